import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The OTLP transport a request came over: the `transport` label of per-transport metrics. */
export type Transport = 'grpc' | 'http';

/**
 * runledger's own Prometheus metrics. Labels are bounded: reasons and codes come from fixed sets,
 * never from a run id, trace id or identity.
 */
export interface MetricSources {
  /** Compliance ratio per workflow label, read at each scrape. */
  complianceRatios?: () => ReadonlyMap<string, number>;
  /** Seconds since the last signed checkpoint, or undefined before the first. */
  lastCheckpointAge?: () => number | undefined;
}

export function createMetrics(sources: MetricSources = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'runledger_process_' });
  return {
    registry,
    spansReceived: new Counter({
      name: 'runledger_spans_received_total',
      help: 'Spans received over OTLP, by transport (since process start).',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    spansRejected: new Counter({
      name: 'runledger_spans_rejected_total',
      help: 'Spans refused, by reason and transport (since process start).',
      labelNames: ['reason', 'transport'] as const,
      registers: [registry],
    }),
    spansDropped: new Counter({
      name: 'runledger_spans_dropped_total',
      help: 'Accepted spans not kept, by reason: excluded by a filter rule, or pending_expired (since process start).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    redactions: new Counter({
      name: 'runledger_redactions_total',
      help: 'Attribute values replaced by a keyed hash before storage, by target and reason (since process start).',
      labelNames: ['target', 'reason'] as const,
      registers: [registry],
    }),
    requestsUnauthenticated: new Counter({
      name: 'runledger_requests_unauthenticated_total',
      help: 'Export requests refused for a missing or invalid bearer token, by transport (since process start).',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    ingestDuration: new Histogram({
      name: 'runledger_ingest_duration_seconds',
      help: 'Time from receiving an Export request to answering it, by result and transport.',
      labelNames: ['result', 'transport'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    runsEvaluated: new Counter({
      name: 'runledger_runs_evaluated_total',
      help: 'Run revisions evaluated, by workflow, kind, status and outcome (since process start).',
      labelNames: ['workflow', 'kind', 'status', 'outcome'] as const,
      registers: [registry],
    }),
    findings: new Counter({
      name: 'runledger_findings_total',
      help: 'Findings in evaluated run revisions, by workflow and code (since process start).',
      labelNames: ['workflow', 'code'] as const,
      registers: [registry],
    }),
    runsOpen: new Gauge({
      name: 'runledger_runs_open',
      help: 'Runs waiting to be evaluated (or re-evaluated after a late span).',
      registers: [registry],
    }),
    spansDuplicate: new Counter({
      name: 'runledger_spans_duplicate_total',
      help: 'Copies of spans already stored (same trace and span id) that judging ignored: the first copy stands (since process start).',
      registers: [registry],
    }),
    runsCapped: new Counter({
      name: 'runledger_runs_capped_total',
      help: 'Runs judged early because a cap was reached, by cap (since process start).',
      labelNames: ['cap'] as const,
      registers: [registry],
    }),
    referenceReloads: new Counter({
      name: 'runledger_reference_reloads_total',
      help: 'Loads of the NHI inventory or policy catalogue, by file and result (failed: the last good version stays in force).',
      labelNames: ['file', 'result'] as const,
      registers: [registry],
    }),
    runsPruned: new Counter({
      name: 'runledger_runs_pruned_total',
      help: 'Runs removed by retention, each recorded in a signed prune record (since process start).',
      registers: [registry],
    }),
    evaluationFailures: new Counter({
      name: 'runledger_run_evaluation_failures_total',
      help: 'Run evaluations that raised an error; the run stays open for the next start (since process start).',
      registers: [registry],
    }),
    complianceRatio: new Gauge({
      name: 'runledger_compliance_ratio',
      help: 'Compliant ÷ evaluated run revisions per workflow over telemetry.metrics.compliance_window_minutes (rebuilt from the store at start).',
      labelNames: ['workflow'] as const,
      registers: [registry],
      collect() {
        if (sources.complianceRatios === undefined) return;
        this.reset();
        for (const [workflow, ratio] of sources.complianceRatios()) this.set({ workflow }, ratio);
      },
    }),
    lastCheckpointAge: new Gauge({
      name: 'runledger_last_checkpoint_age_seconds',
      help: 'Seconds since the last signed checkpoint was written by this process.',
      registers: [registry],
      collect() {
        const age = sources.lastCheckpointAge?.();
        if (age !== undefined) this.set(age);
      },
    }),
    forwardSent: new Counter({
      name: 'runledger_forward_sent_total',
      help: 'Spans (signal traces) and verdict records (signal logs) forwarded, by result: sent, rejected (refused for good), expired (older than max_backlog_age_minutes, or pruned by retention, before they could be sent), retried (in a failed attempt) (since process start).',
      labelNames: ['signal', 'result'] as const,
      registers: [registry],
    }),
    forwardBacklogSpans: new Gauge({
      name: 'runledger_forward_backlog_spans',
      help: 'Stored spans not forwarded yet.',
      registers: [registry],
    }),
    forwardBacklogVerdicts: new Gauge({
      name: 'runledger_forward_backlog_verdicts',
      help: 'Sealed run revisions not exported as logs yet.',
      registers: [registry],
    }),
    forwardLag: new Gauge({
      name: 'runledger_forward_lag_seconds',
      help: 'Age of the oldest stored item not forwarded yet, by signal (0 when all are sent).',
      labelNames: ['signal'] as const,
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

/** Adds redaction counts keyed `target\0reason` (as intake's redaction reports them). */
export function countRedactions(metrics: Metrics, counts: Iterable<readonly [string, number]>): void {
  for (const [label, n] of counts) {
    const [target = '', reason = ''] = label.split('\u0000');
    metrics.redactions.inc({ target, reason }, n);
  }
}

/**
 * Keeps a label's cardinality bounded: the first `max` distinct values pass, later ones become
 * `other`, so a flood of workflow names cannot blow up the time-series count.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  value(raw: string | null | undefined): string {
    const value = raw ?? 'unknown';
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}
