import { continuesCaller } from '../runs/root.js';
import type { RunIdentity } from '../runs/run-identity.js';
import type { RunSpan } from './run-input.js';

/**
 * The root: a span carrying the run identity none of whose ancestors in the run carries it
 * (a workflow span may sit under a gateway span of the same trace). Earliest wins.
 */
export function findRoot(spans: readonly RunSpan[], identity: RunIdentity): RunSpan | undefined {
  for (const top of topSpans(spans, identity)) return top;
  return undefined;
}

/**
 * Whether a run still waits for its own top span. Each top span (see topSpans) is followed up through
 * the spans of the run: it is anchored when that reaches a span without a parent or one continuing a
 * caller. When none is, and two or more hang under one parent that has not arrived, that parent is the
 * run's top span, still running: Temporal's RunWorkflow is exported when the workflow ends, while the
 * client's StartWorkflow that starts the trace ended at once. A single top span under a missing parent
 * is judged as it is: that parent may be a span exported elsewhere.
 */
export function awaitsRoot(spans: readonly RunSpan[], identity: RunIdentity): boolean {
  // Built only past the usual answer: the first top span has no parent.
  let byId: Map<string, RunSpan> | undefined;
  const missingParents = new Set<string>();
  let shared = false;
  for (const top of topSpans(spans, identity)) {
    let highest = top;
    for (let depth = 0; depth < spans.length; depth++) {
      if (highest.parentSpanId === '' || continuesCaller(highest.kind)) return false;
      byId ??= new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
      const parent = byId.get(`${highest.traceId}/${highest.parentSpanId}`);
      if (parent === undefined) break;
      highest = parent;
    }
    const missing = `${highest.traceId}/${highest.parentSpanId}`;
    if (missingParents.has(missing)) shared = true;
    missingParents.add(missing);
  }
  return shared;
}

/** The spans carrying the run identity with no such ancestor in the run (DESIGN §4), in the given order. */
function* topSpans(spans: readonly RunSpan[], identity: RunIdentity): Generator<RunSpan, void, undefined> {
  // Built only when a span carrying the identity has a parent: usually the earliest is the root.
  let byId: Map<string, RunSpan> | undefined;
  const parentOf = (s: RunSpan): RunSpan | undefined => {
    if (s.parentSpanId === '') return undefined;
    byId ??= new Map(spans.map((x) => [`${x.traceId}/${x.spanId}`, x]));
    return byId.get(`${s.traceId}/${s.parentSpanId}`);
  };
  const carries = (s: RunSpan) => identity.carries(s, s.resource);
  for (const span of spans) {
    if (!carries(span)) continue;
    let parent = parentOf(span);
    let ancestorCarries = false;
    for (let depth = 0; parent !== undefined && depth < spans.length; depth++) {
      if (carries(parent)) {
        ancestorCarries = true;
        break;
      }
      parent = parentOf(parent);
    }
    if (!ancestorCarries) yield span;
  }
}
