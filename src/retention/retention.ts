import type { Config } from '../config/schema.js';
import type { PruneResult, Pruner } from '../store/pruner.js';

const daysToNs = (days: number): bigint => BigInt(Math.round(days * 86_400_000)) * 1_000_000n;

/** Applies the retention config once: per-kind ages first, then the default age for the rest. */
export function applyRetention(pruner: Pruner, retention: Config['retention'], nowNs: bigint): PruneResult {
  let runs = 0;
  let revisions = 0;
  let unforwardedSpans = 0;
  const drain = (beforeNs: bigint, scope: Parameters<Pruner['prune']>[1]) => {
    for (;;) {
      const result = pruner.prune(beforeNs, scope, nowNs);
      runs += result.runs;
      revisions += result.revisions;
      unforwardedSpans += result.unforwardedSpans;
      if (result.runs === 0) return;
    }
  };
  for (const [kind, days] of Object.entries(retention.by_kind)) drain(nowNs - daysToNs(days), { kind });
  if (retention.max_age_days !== undefined) {
    drain(nowNs - daysToNs(retention.max_age_days), { exceptKinds: Object.keys(retention.by_kind) });
  }
  return { runs, revisions, unforwardedSpans };
}
