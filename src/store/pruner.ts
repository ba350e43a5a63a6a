import type { Database } from './database.js';

/** At most this many runs are pruned per transaction, so pruning never holds the writer for long. */
const MAX_RUNS_PER_PASS = 5_000;

export interface PruneResult {
  readonly runs: number;
  readonly revisions: number;
  /** Spans removed before forwarding had sent them (0 when forwarding is off). */
  readonly unforwardedSpans: number;
}

/** What a prune removed, as its chain record states it (PrunePayload without the head it names). */
export interface PrunedRevisions {
  /** The cutoff, ISO 8601. */
  readonly before: string;
  readonly kinds: readonly string[] | null;
  readonly count: number;
  /** Inclusive [first, last] seq ranges of revision rows whose data was removed. */
  readonly ranges: ReadonlyArray<readonly [number, number]>;
}

/** Where a prune is recorded, in the same transaction (ChainWriter: a signed chain row). */
export interface PruneRecorder {
  recordPrune(pruned: PrunedRevisions, nowNs: bigint): void;
}

/**
 * Retention: removes runs (their revisions, findings and spans) evaluated before a cutoff, and
 * appends a signed chain record of what was removed so `verify` reports a declared gap, not a
 * missing record. Chain rows stay: they hold only hashes. Replay keys stay too, so a trigger reused
 * after its first run was pruned is still caught.
 */
export class Pruner {
  constructor(
    private readonly db: Database,
    private readonly recorder: PruneRecorder,
    /** Forwarding is on: count the spans pruned before it sent them (the backlog is bounded by retention). */
    private readonly forwarding = false,
  ) {}

  /** Prunes runs of `kind` (null: any kind not listed in `exceptKinds`) evaluated before `beforeNs`. */
  prune(beforeNs: bigint, scope: { kind: string } | { exceptKinds: readonly string[] }, nowNs: bigint): PruneResult {
    const kindClause =
      'kind' in scope
        ? 'kind = @kind'
        : scope.exceptKinds.length === 0
          ? '1'
          : `coalesce(kind, '') NOT IN (${scope.exceptKinds.map((_, i) => `@k${i}`).join(', ')})`;
    const params: Record<string, unknown> = { before: beforeNs, limit: MAX_RUNS_PER_PASS };
    if ('kind' in scope) params.kind = scope.kind;
    else scope.exceptKinds.forEach((k, i) => (params[`k${i}`] = k));

    return this.db.transaction((): PruneResult => {
      const runKeys = this.db
        .prepare(`SELECT run_key FROM runs WHERE state = 'evaluated' AND evaluated_ns < @before AND ${kindClause} LIMIT @limit`)
        .pluck()
        .all(params) as string[];
      if (runKeys.length === 0) return { runs: 0, revisions: 0, unforwardedSpans: 0 };
      const cursor = this.forwarding
        ? (this.db.prepare("SELECT position FROM forward_cursors WHERE stream = 'spans'").pluck().get() as number | undefined)
        : undefined;
      const unforwardedOf = this.db.prepare('SELECT count(*) FROM spans WHERE run_key = ? AND id > ?').pluck();
      let unforwardedSpans = 0;
      const seqsOf = this.db.prepare("SELECT seq FROM chain WHERE run_key = ? AND kind = 'revision'").pluck().safeIntegers(true);
      const deletes = ['run_revisions', 'run_findings', 'spans', 'trace_runs', 'runs'].map((table) =>
        this.db.prepare(`DELETE FROM ${table} WHERE run_key = ?`),
      );
      const seqs: number[] = [];
      for (const runKey of runKeys) {
        for (const seq of seqsOf.all(runKey) as bigint[]) seqs.push(Number(seq));
        if (cursor !== undefined) unforwardedSpans += unforwardedOf.get(runKey, cursor) as number;
        for (const del of deletes) del.run(runKey);
      }
      this.recorder.recordPrune(
        {
          before: new Date(Number(beforeNs / 1_000_000n)).toISOString(),
          kinds: 'kind' in scope ? [scope.kind] : null,
          count: seqs.length,
          ranges: toRanges(seqs),
        },
        nowNs,
      );
      return { runs: runKeys.length, revisions: seqs.length, unforwardedSpans };
    })();
  }
}

/** Sorted numbers as inclusive [first, last] ranges. */
export function toRanges(values: readonly number[]): Array<[number, number]> {
  const sorted = [...values].sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  for (const v of sorted) {
    const last = ranges.at(-1);
    if (last !== undefined && v === last[1] + 1) last[1] = v;
    else ranges.push([v, v]);
  }
  return ranges;
}
