import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * runledger's own Prometheus metrics. Labels are bounded: reasons and codes come from fixed sets,
 * never from a run id, trace id or identity.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'runledger_process_' });
  return {
    registry,
    spansReceived: new Counter({
      name: 'runledger_spans_received_total',
      help: 'Spans received over OTLP (since process start).',
      registers: [registry],
    }),
    spansRejected: new Counter({
      name: 'runledger_spans_rejected_total',
      help: 'Spans refused, by reason (since process start).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    spansDropped: new Counter({
      name: 'runledger_spans_dropped_total',
      help: 'Accepted spans not kept, by reason: excluded by a filter rule, or pending_expired (since process start).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    ingestDuration: new Histogram({
      name: 'runledger_ingest_duration_seconds',
      help: 'Time from receiving an Export request to answering it.',
      labelNames: ['result'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    storeBytes: new Gauge({
      name: 'runledger_store_bytes',
      help: 'Size of the SQLite database and its WAL, in bytes.',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
