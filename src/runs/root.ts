import type { IntakeSpan } from '../otlp/intake-request.js';

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CONSUMER = 5;

/**
 * Whether a span's arrival means its run's root is in: the span starts its trace (a trace root ends
 * last, so its trace is complete — even when it is an HTTP SERVER span above the workflow span), or it
 * carries the run identity and continues a remote caller's trace (a SERVER or CONSUMER span: a webhook
 * or queue consumer starting the workflow). The evaluator later picks the true root among the spans.
 * `identity`: the span itself (or its resource) carries a run identity attribute.
 */
export function isRootCandidate(span: Pick<IntakeSpan, 'parentSpanId' | 'kind'>, identity: boolean): boolean {
  return span.parentSpanId === '' || (identity && continuesCaller(span.kind));
}

/** A SERVER or CONSUMER span: it continues a remote caller's trace, whose span may never reach runledger. */
export function continuesCaller(kind: number): boolean {
  return kind === SPAN_KIND_SERVER || kind === SPAN_KIND_CONSUMER;
}
