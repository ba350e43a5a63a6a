import type { BatchSpan } from '../pipeline/span-batch.js';

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CONSUMER = 5;

/**
 * Whether a span can be the root of its run when it arrives: it carries the run identity and starts a
 * trace, or continues a remote caller's trace (a SERVER or CONSUMER span, e.g. a webhook or queue
 * consumer that starts the workflow). The evaluator later picks the true root among the run's spans.
 */
export function isRootCandidate({ span, identity }: Pick<BatchSpan, 'span' | 'identity'>): boolean {
  return identity && (span.parentSpanId === '' || span.kind === SPAN_KIND_SERVER || span.kind === SPAN_KIND_CONSUMER);
}
