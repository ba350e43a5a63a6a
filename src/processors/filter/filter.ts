import type { BatchSpan, Claim, SpanBatch } from '../../pipeline/span-batch.js';
import type { SpanSink } from '../../pipeline/span-sink.js';
import { matches, type RunIdentity } from '../../runs/run-identity.js';
import { continuesCaller, isRootCandidate } from '../../runs/root.js';
import type { FilterConfig } from './config.js';

/** Finds runs of spans the filter does not remember (the store answers from committed spans). */
export interface TraceDirectory {
  runKeyOfTrace(traceId: string): string | undefined;
  runKeyOfSpan(traceId: string, spanId: string): string | undefined;
}

export interface FilterCounters {
  dropped(reason: 'excluded', count: number): void;
}

/** What the filter works with besides its config and the next stage. */
export interface FilterDeps {
  readonly identity: RunIdentity;
  readonly directory: TraceDirectory;
  readonly counters: FilterCounters;
}

/** The span attribute keys the filter reads; intake decodes only these (see KeySelector). */
export function filterAttributeKeys(identity: RunIdentity, config: FilterConfig): Set<string> {
  return new Set([...identity.attributeKeys, ...config.exclude.flatMap((rule) => rule.attribute ?? [])]);
}

/**
 * DESIGN §4: a span is kept when it or its trace carries a run identity, dropped when excluded, and
 * otherwise pending (its root may still come); pending spans are stored with no run key. A span
 * belongs to the run of its nearest ancestor that carries a run id, else to its trace's run — so one
 * trace can hold several runs (a controller reconciling two secrets in one pass).
 */
export class SpanFilter implements SpanSink {
  /** traceId → the trace's (first) run key, most recently used last; a cache in front of the directory. */
  private readonly traceRuns = new Map<string, string>();
  /** Traces known to hold more than one run: their spans are routed by ancestry. */
  private readonly multiRunTraces = new Set<string>();
  /** Traces with an agent span (evidence.agent_runs) and no run yet: their root, once in, starts one. */
  private readonly agentTraces = new Set<string>();

  constructor(
    private readonly config: FilterConfig,
    private readonly next: SpanSink,
    private readonly deps: FilterDeps,
  ) {}

  consume(batch: SpanBatch): Promise<void> {
    const { config } = this;
    const { counters, identity } = this.deps;
    const kept = batch.spans.filter((s) => !config.exclude.some((rule) => matches(rule, s.span, s.resource.attributes)));
    if (kept.length < batch.spans.length) counters.dropped('excluded', batch.spans.length - kept.length);

    const runIds = kept.map((s) => identity.runId(s.span, s.resource.attributes));
    const carries = kept.map((s, i) => runIds[i] !== undefined || identity.namesRun(s.span, s.resource.attributes));
    // An agent span's run starts only when its trace's root is in: a workflow (run id or name) that
    // arrives first takes the trace instead, the agent acting inside it. Children are exported before
    // their root, so binding the trace at the agent span would split such a workflow in two.
    kept.forEach((s, i) => {
      const { traceId } = s.span;
      if (!carries[i] && !this.traceRuns.has(traceId) && identity.isAgentSpan(s.span)) this.track(this.agentTraces, traceId);
    });

    // Run ids bind their trace first, so a child earlier in the batch follows its root.
    const traceRun = new Map<string, string>();
    const runIdOfSpan = new Map<string, string>();
    kept.forEach((s, i) => {
      const runId = runIds[i];
      if (runId === undefined) return;
      const { traceId, spanId } = s.span;
      runIdOfSpan.set(`${traceId}/${spanId}`, runId);
      // Only the cache is asked: a trace the batch binds itself needs no directory lookup.
      const bound = traceRun.get(traceId) ?? this.traceRuns.get(traceId);
      if (bound === undefined) traceRun.set(traceId, runId);
      else {
        traceRun.set(traceId, bound);
        if (bound !== runId) this.markMultiRun(traceId);
      }
    });

    // One directory lookup per unknown trace and batch, not per span.
    const looked = new Map<string, string | null>();
    const runOfTrace = (traceId: string): string | null => {
      let runKey = traceRun.get(traceId) ?? looked.get(traceId);
      if (runKey === undefined) {
        runKey = this.lookup(traceId) ?? null;
        looked.set(traceId, runKey);
      }
      return runKey;
    };
    // The root that starts an agent run: the trace's first span, or a server span continuing a caller's trace.
    const startsRun = kept.map(
      (s, i) =>
        carries[i] ||
        ((s.span.parentSpanId === '' || continuesCaller(s.span.kind)) && this.agentTraces.has(s.span.traceId) && runOfTrace(s.span.traceId) === null),
    );
    // A span that only names its workflow binds its trace to the trace id, unless a run id already did.
    kept.forEach((s, i) => {
      if (startsRun[i] && runIds[i] === undefined && runOfTrace(s.span.traceId) === null) {
        traceRun.set(s.span.traceId, s.span.traceId);
      }
    });
    for (const [traceId, runKey] of traceRun) {
      this.remember(traceId, runKey);
      this.agentTraces.delete(traceId);
    }

    const byId = new Map(kept.map((s) => [`${s.span.traceId}/${s.span.spanId}`, s]));
    const spans = kept.map((s, i): BatchSpan => ({
      ...s,
      runKey: runIds[i] ?? this.ancestorRun(s, byId, runIdOfSpan) ?? runOfTrace(s.span.traceId),
      rootCandidate: isRootCandidate(s.span, startsRun[i]!),
    }));

    // Pending spans of a bound trace join its run: the whole trace, or in a multi-run trace only the
    // descendants of each run's span.
    const claims: Claim[] = [];
    const claimedTraces = new Set<string>();
    kept.forEach((s, i) => {
      const runId = runIds[i];
      const { traceId, spanId } = s.span;
      if (this.multiRunTraces.has(traceId)) {
        if (runId !== undefined) claims.push({ traceId, runKey: runId, rootSpanId: spanId });
      } else if (startsRun[i] && !claimedTraces.has(traceId)) {
        claimedTraces.add(traceId);
        claims.push({ traceId, runKey: traceRun.get(traceId)!, rootSpanId: null });
      }
    });
    return this.next.consume({ spans, receivedNs: batch.receivedNs, claims });
  }

  /** In a multi-run trace, the run of the nearest ancestor carrying a run id (in the batch or stored). */
  private ancestorRun(s: BatchSpan, byId: Map<string, BatchSpan>, runIdOfSpan: Map<string, string>): string | undefined {
    const { traceId } = s.span;
    if (!this.multiRunTraces.has(traceId)) return undefined;
    let parentId = s.span.parentSpanId;
    for (let depth = 0; parentId !== '' && depth < byId.size + 1; depth++) {
      const key = `${traceId}/${parentId}`;
      const own = runIdOfSpan.get(key);
      if (own !== undefined) return own;
      const parent = byId.get(key);
      if (parent === undefined) return this.deps.directory.runKeyOfSpan(traceId, parentId);
      parentId = parent.span.parentSpanId;
    }
    return undefined;
  }

  private markMultiRun(traceId: string): void {
    this.track(this.multiRunTraces, traceId);
  }

  /** Adds a trace to a bounded set (max_tracked_traces), forgetting the oldest. */
  private track(traces: Set<string>, traceId: string): void {
    traces.add(traceId);
    if (traces.size > this.config.max_tracked_traces) {
      const oldest = traces.values().next().value;
      if (oldest !== undefined) traces.delete(oldest);
    }
  }

  private lookup(traceId: string): string | undefined {
    const cached = this.traceRuns.get(traceId);
    if (cached !== undefined) {
      this.remember(traceId, cached);
      return cached;
    }
    const found = this.deps.directory.runKeyOfTrace(traceId);
    if (found !== undefined) this.remember(traceId, found);
    return found;
  }

  private remember(traceId: string, runKey: string): void {
    this.traceRuns.delete(traceId);
    this.traceRuns.set(traceId, runKey);
    if (this.traceRuns.size > this.config.max_tracked_traces) {
      const oldest = this.traceRuns.keys().next().value;
      if (oldest !== undefined) this.traceRuns.delete(oldest);
    }
  }
}
