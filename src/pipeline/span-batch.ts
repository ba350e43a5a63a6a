import type { IntakeResource, IntakeScope, IntakeSpan } from '../otlp/intake-request.js';

/** One accepted span and where it came from; `runKey` is null while its trace has no run (pending). */
export interface BatchSpan {
  readonly span: IntakeSpan;
  readonly resource: IntakeResource;
  readonly scope: IntakeScope;
  readonly runKey: string | null;
  /** Its arrival means its run's root is in (see isRootCandidate); the store keeps it with the run. */
  readonly rootCandidate: boolean;
}

/** What flows between stages: the accepted spans of one request. Treated as immutable. */
export interface SpanBatch {
  readonly spans: readonly BatchSpan[];
  readonly receivedNs: bigint;
  /** Traces bound to a run by a span of this batch: their pending spans join that run. */
  readonly claims: readonly Claim[];
}

/**
 * Pending spans of `traceId` join `runKey`: all of them, or with `rootSpanId` only that span's
 * descendants (a trace holding several runs).
 */
export interface Claim {
  readonly traceId: string;
  readonly runKey: string;
  readonly rootSpanId: string | null;
}
