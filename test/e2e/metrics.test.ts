import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeExportResponse, encodeExportRequest, newSpanId, newTraceId, toNumber } from '../support/otlp-request.js';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { parseValue, scrape, type Exposition } from '../support/prometheus-text.js';
import { RawOtlpClient } from '../support/raw-otlp-client.js';
import { JIT_BROKER, MIX_ORDER, ROTATOR, ROTATOR_EU, sendRunMix, type RunMix } from '../support/run-mix.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { PATIENCE_MS } from '../support/patience.js';

/**
 * GET /metrics end to end: a known mix of runs (test/support/run-mix.ts: workflow A with 3 compliant
 * runs and 1 replayed trigger, workflow B with 2 incomplete runs) sent through the real OTel SDK
 * exporter, then the Prometheus exposition parsed and asserted on exact values.
 */

describe('GET /metrics after real OTel traffic', () => {
  let dir: string;
  let runledger: RunledgerProcess;
  let sender: OtelSender;
  let mix: RunMix;

  const config = () => ({
    runs: { settle_ms: 200 },
    integrity: { signing_key_file: join(dir, 'signing-key.pem') },
    redaction: { hmac_key_file: join(dir, 'redaction-hmac.key') },
  });

  /** Scrapes until `ready` holds (e.g. a gauge set by a periodic task), failing after `timeoutMs`. */
  async function scrapeUntil(ready: (m: Exposition) => boolean, what: string, timeoutMs = PATIENCE_MS): Promise<Exposition> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const metrics = await scrape(runledger.httpUrl);
      if (ready(metrics)) return metrics;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-metrics-'));
    runledger = await startRunledger({ dir, config: config() });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-metrics' });
    mix = await sendRunMix(sender, runledger.dbPath, 'metrics');
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the Prometheus text format with the documented metric types', async () => {
    const metrics = await scrape(runledger.httpUrl);
    const types = Object.fromEntries(
      [
        'runledger_spans_received_total',
        'runledger_spans_rejected_total',
        'runledger_spans_dropped_total',
        'runledger_spans_duplicate_total',
        'runledger_redactions_total',
        'runledger_requests_unauthenticated_total',
        'runledger_ingest_duration_seconds',
        'runledger_runs_evaluated_total',
        'runledger_findings_total',
        'runledger_runs_open',
        'runledger_runs_capped_total',
        'runledger_run_evaluation_failures_total',
        'runledger_compliance_ratio',
        'runledger_reference_reloads_total',
        'runledger_runs_pruned_total',
        'runledger_last_checkpoint_age_seconds',
        'runledger_store_bytes',
      ].map((name) => [name, metrics.types.get(name)]),
    );
    expect(types).toEqual({
      runledger_spans_received_total: 'counter',
      runledger_spans_rejected_total: 'counter',
      runledger_spans_dropped_total: 'counter',
      runledger_spans_duplicate_total: 'counter',
      runledger_redactions_total: 'counter',
      runledger_requests_unauthenticated_total: 'counter',
      runledger_ingest_duration_seconds: 'histogram',
      runledger_runs_evaluated_total: 'counter',
      runledger_findings_total: 'counter',
      runledger_runs_open: 'gauge',
      runledger_runs_capped_total: 'counter',
      runledger_run_evaluation_failures_total: 'counter',
      runledger_compliance_ratio: 'gauge',
      runledger_reference_reloads_total: 'counter',
      runledger_runs_pruned_total: 'counter',
      runledger_last_checkpoint_age_seconds: 'gauge',
      runledger_store_bytes: 'gauge',
    });
  });

  // prom-client's default process metrics (runledger_process_*, e.g. event-loop lag before its first
  // sample) may be NaN, which the format allows ("Nan"); runledger's own metrics must not be.
  it("has a finite value in every sample of runledger's own metrics", async () => {
    const metrics = await scrape(runledger.httpUrl);
    const own = metrics.samples.filter((s) => s.name.startsWith('runledger_') && !s.name.startsWith('runledger_process_'));
    expect(own.length).toBeGreaterThan(0);
    const notFinite = own.filter((s) => !Number.isFinite(s.value));
    expect(notFinite).toEqual([]);
  });

  it('counts every span the OTel exporter sent in runledger_spans_received_total, none rejected, dropped or redacted', async () => {
    const metrics = await scrape(runledger.httpUrl);
    expect(mix.spanCount()).toBe(4 * 6 + 2 * 3);
    expect(metrics.value('runledger_spans_received_total', { transport: 'grpc' })).toBe(mix.spanCount());
    expect(metrics.sum('runledger_spans_rejected_total')).toBe(0);
    expect(metrics.sum('runledger_spans_dropped_total')).toBe(0);
    // The mix carries no secrets: ids, names and targets must pass redaction untouched.
    expect(metrics.sum('runledger_redactions_total')).toBe(0);
    expect(metrics.value('runledger_run_evaluation_failures_total')).toBe(0);
  });

  it('counts evaluated runs in runledger_runs_evaluated_total per {workflow, kind, status, outcome}', async () => {
    const metrics = await scrape(runledger.httpUrl);
    expect(metrics.series('runledger_runs_evaluated_total')).toEqual({
      [`kind=secret_rotation,outcome=complete,status=compliant,workflow=${mix.workflowA}`]: 3,
      [`kind=secret_rotation,outcome=complete,status=violation,workflow=${mix.workflowA}`]: 1,
      [`kind=jit_access,outcome=complete,status=incomplete,workflow=${mix.workflowB}`]: 2,
    });
  });

  it("counts the violation's code and the incomplete runs' codes in runledger_findings_total{workflow, code}", async () => {
    const metrics = await scrape(runledger.httpUrl);
    expect(metrics.series('runledger_findings_total')).toEqual({
      [`code=replayed_trigger,workflow=${mix.workflowA}`]: 1,
      [`code=missing_field,workflow=${mix.workflowB}`]: 2,
    });
  });

  it('reports runledger_runs_open 0 once every run settled', async () => {
    const metrics = await scrapeUntil((m) => m.value('runledger_runs_open') === 0, 'runledger_runs_open 0');
    expect(metrics.value('runledger_runs_open')).toBe(0);
  });

  it('reports runledger_compliance_ratio per workflow: A 3 of 4 compliant, B none', async () => {
    const metrics = await scrape(runledger.httpUrl);
    expect(metrics.series('runledger_compliance_ratio')).toEqual({
      [`workflow=${mix.workflowA}`]: 0.75,
      [`workflow=${mix.workflowB}`]: 0,
    });
  });

  it('observes each successful Export in runledger_ingest_duration_seconds{result="success"}', async () => {
    const metrics = await scrape(runledger.httpUrl);
    const count = metrics.value('runledger_ingest_duration_seconds_count', { result: 'success', transport: 'grpc' })!;
    expect(count).toBeGreaterThan(0);
    // The mix went out in at least two exports (the replay after its original was judged).
    expect(count).toBeGreaterThanOrEqual(2);
    expect(metrics.value('runledger_ingest_duration_seconds_sum', { result: 'success', transport: 'grpc' })).toBeGreaterThan(0);
    const buckets = metrics
      .matching('runledger_ingest_duration_seconds_bucket', { result: 'success' })
      .map((s) => [parseValue(s.labels.le!), s.value] as const)
      .sort((a, b) => a[0] - b[0]);
    expect(buckets.at(-1)).toEqual([Infinity, count]);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
    expect(metrics.matching('runledger_ingest_duration_seconds_count', { result: 'partial' })).toEqual([]);
    expect(metrics.matching('runledger_ingest_duration_seconds_count', { result: 'refused' })).toEqual([]);
  });

  it('reports runledger_store_bytes > 0 (set by housekeeping)', async () => {
    const metrics = await scrapeUntil((m) => (m.value('runledger_store_bytes') ?? 0) > 0, 'runledger_store_bytes > 0');
    // At least the database pages holding the spans.
    expect(metrics.value('runledger_store_bytes')).toBeGreaterThan(4096);
  });

  it('never uses a run id, trace id, span id, event id or actor id as a label value', async () => {
    const metrics = await scrape(runledger.httpUrl);
    const identifying = new Set<string>([ROTATOR, ROTATOR_EU, JIT_BROKER, mix.eventId, `${mix.eventSource}|${mix.eventId}`]);
    for (const name of MIX_ORDER) {
      const run = mix.runs[name];
      identifying.add(run.runId);
      for (const span of run.emitted.spans) {
        identifying.add(span.traceId);
        identifying.add(span.spanId);
      }
    }
    const offending = metrics.samples.flatMap((s) =>
      Object.entries(s.labels)
        .filter(([, value]) => identifying.has(value) || [...identifying].some((id) => id.length >= 16 && value.includes(id)))
        .map(([label, value]) => `${s.name}{${label}="${value}"}`),
    );
    expect(offending).toEqual([]);
    // The label values that do appear on run metrics come from bounded sets.
    const statuses = new Set(metrics.matching('runledger_runs_evaluated_total').map((s) => s.labels.status));
    expect([...statuses].sort()).toEqual(['compliant', 'incomplete', 'violation']);
    for (const s of metrics.matching('runledger_runs_evaluated_total')) {
      expect(Object.keys(s.labels).sort()).toEqual(['kind', 'outcome', 'status', 'workflow']);
    }
  });

  it('counts a span with an invalid span id in runledger_spans_rejected_total{reason="invalid_span"}', async () => {
    const before = await scrape(runledger.httpUrl);
    const client = new RawOtlpClient(runledger.grpcPort);
    try {
      const traceId = newTraceId();
      const outcome = await client.export(
        encodeExportRequest([
          {
            attributes: { 'service.name': 'e2e-metrics-raw' },
            spans: [
              { name: 'good', traceId, spanId: newSpanId() },
              { name: 'zero span id', traceId, spanId: Buffer.alloc(8) },
            ],
          },
        ]),
      );
      expect(outcome.code).toBe(grpc.status.OK);
      expect(toNumber(decodeExportResponse(outcome.response!).partialSuccess?.rejectedSpans)).toBe(1);
    } finally {
      client.close();
    }
    const after = await scrape(runledger.httpUrl);
    expect(after.series('runledger_spans_rejected_total')).toEqual({ 'reason=invalid_span,transport=grpc': 1 });
    // Received counts every span that arrived, rejected ones included.
    expect(after.value('runledger_spans_received_total', { transport: 'grpc' })).toBe(before.value('runledger_spans_received_total', { transport: 'grpc' })! + 2);
    expect(after.value('runledger_ingest_duration_seconds_count', { result: 'partial', transport: 'grpc' })).toBe(1);
    expect(after.value('runledger_ingest_duration_seconds_count', { result: 'success', transport: 'grpc' })).toBe(
      before.value('runledger_ingest_duration_seconds_count', { result: 'success', transport: 'grpc' }),
    );
  });

  // Keep last: it replaces the process.
  it('after a restart on the same db, rebuilds runledger_compliance_ratio from the store while counters restart from zero', async () => {
    const before = await scrape(runledger.httpUrl);
    const ratios = before.series('runledger_compliance_ratio');
    expect(ratios).toEqual({ [`workflow=${mix.workflowA}`]: 0.75, [`workflow=${mix.workflowB}`]: 0 });

    await sender.shutdown();
    expect(await runledger.stop()).toBe(0);
    runledger = await startRunledger({ dir, config: config() });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-metrics' });

    const after = await scrape(runledger.httpUrl);
    // Gauge rebuilt from the stored revisions of the window: the same values as before the restart.
    expect(after.series('runledger_compliance_ratio')).toEqual(ratios);
    // Counters count since process start (Prometheus rate()/increase() handle the reset).
    expect(after.sum('runledger_spans_received_total')).toBe(0);
    expect(after.sum('runledger_spans_rejected_total')).toBe(0);
    expect(after.series('runledger_runs_evaluated_total')).toEqual({});
    expect(after.series('runledger_findings_total')).toEqual({});
    expect(after.matching('runledger_ingest_duration_seconds_count')).toEqual([]);
    // Nothing was left open to resume.
    expect(after.value('runledger_runs_open')).toBe(0);
  });
});
