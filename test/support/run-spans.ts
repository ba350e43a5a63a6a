import type { Attributes } from '../../src/otlp/attributes.js';
import type { RunSpan } from '../../src/evidence/run-input.js';

export interface RunSpanOptions {
  readonly parent?: string;
  /** Status ERROR with error.type connector_timeout. */
  readonly error?: boolean;
  readonly id?: string;
  readonly start?: bigint;
}

const TRACE = 'a'.repeat(32);
let nextId = 1;

/** A decoded span of a run, as the evaluator reads it: ids handed out in order, 500 ns long. */
export function runSpan(name: string, attributes: Attributes, options: RunSpanOptions = {}): RunSpan {
  const id = options.id ?? (nextId++).toString(16).padStart(16, '0');
  const start = options.start ?? 1_764_000_000_000_000_000n + BigInt(nextId) * 1000n;
  return {
    traceId: TRACE,
    spanId: id,
    parentSpanId: options.parent ?? '',
    name,
    kind: 1,
    startNs: start,
    endNs: start + 500n,
    statusCode: options.error ? 2 : 0,
    statusMessage: '',
    attributes: { ...attributes, ...(options.error ? { 'error.type': 'connector_timeout' } : {}) },
    events: [],
    links: [],
    resource: { 'service.name': 'svc' },
    scopeName: 'test',
    digest: '0'.repeat(64),
    redactions: [],
  };
}
