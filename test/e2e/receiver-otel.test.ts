import { rmSync } from 'node:fs';
import { context, trace, type Span } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../support/metrics.js';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { spansOfTrace } from '../support/stored-spans.js';
import { Span as SpanMessage } from '../../src/otlp/proto.js';

// Through the real OpenTelemetry SDK and OTLP/gRPC exporter, as an application exports (STYLE.md Tests).
describe('receiver with the OpenTelemetry SDK exporter', () => {
  let runledger: RunledgerProcess;
  const senders: OtelSender[] = [];

  const sender = (resource: Record<string, string> = { 'service.name': 'access-workflows' }, gzip = false) => {
    const s = createOtelSender(runledger.grpcUrl, resource, { compression: gzip ? 'gzip' : 'none' });
    senders.push(s);
    return s;
  };
  const childOf = (s: OtelSender, parent: Span, name: string) =>
    s.tracer.startSpan(name, {}, trace.setSpan(context.active(), parent));

  beforeAll(async () => {
    runledger = await startRunledger({
      config: {
        runs: { settle_ms: 50 },
        filter: { exclude: [{ attribute: 'service.name', equals: 'healthcheck' }] },
      },
    });
  });

  afterAll(async () => {
    await Promise.all(senders.map((s) => s.shutdown()));
    await runledger?.stop();
    if (runledger) rmSync(runledger.dir, { recursive: true, force: true });
  });

  it('stores every span of a workflow trace under the run id carried by its root', async () => {
    const s = sender();
    const root = s.tracer.startSpan('jit-access', {
      attributes: { 'nhi.workflow.run.id': 'run-jit-0001', 'nhi.workflow.name': 'jit_access' },
    });
    const decision = childOf(s, root, 'policy-check');
    const grant = childOf(s, decision, 'grant-role');
    grant.end();
    decision.end();
    root.end();
    await s.flush();

    const stored = spansOfTrace(runledger.dbPath, root.spanContext().traceId);
    expect(stored.map((x) => x.name)).toEqual(['grant-role', 'jit-access', 'policy-check']);
    expect(stored.map((x) => x.run_key)).toEqual(['run-jit-0001', 'run-jit-0001', 'run-jit-0001']);
    const byName = new Map(stored.map((x) => [x.name, x]));
    expect(byName.get('jit-access')?.parent_span_id).toBe('');
    expect(byName.get('policy-check')?.parent_span_id).toBe(root.spanContext().spanId);
    expect(byName.get('grant-role')?.span_id).toBe(grant.spanContext().spanId);
  });

  it('stores the exact OTLP Span encoding as the body', async () => {
    const s = sender();
    const root = s.tracer.startSpan('rotate-secret', {
      attributes: { 'nhi.workflow.run.id': 'run-body-0001', 'nhi.change.target': 'vault:kv/db' },
    });
    root.end();
    await s.flush();

    const [stored] = spansOfTrace(runledger.dbPath, root.spanContext().traceId);
    const decoded = SpanMessage.toObject(SpanMessage.decode(stored!.body), { bytes: String, longs: String }) as {
      traceId: string;
      name: string;
      attributes: Array<{ key: string; value: { stringValue: string } }>;
    };
    expect(Buffer.from(decoded.traceId, 'base64').toString('hex')).toBe(root.spanContext().traceId);
    expect(decoded.name).toBe('rotate-secret');
    expect(decoded.attributes).toContainEqual({ key: 'nhi.change.target', value: { stringValue: 'vault:kv/db' } });
  });

  it('keeps a trace with no run identity pending (run_key NULL)', async () => {
    const s = sender();
    const root = s.tracer.startSpan('GET /healthz-like-but-not-excluded');
    childOf(s, root, 'db-query').end();
    root.end();
    await s.flush();

    const stored = spansOfTrace(runledger.dbPath, root.spanContext().traceId);
    expect(stored).toHaveLength(2);
    expect(stored.map((x) => x.run_key)).toEqual([null, null]);
  });

  it('binds a child exported before its root to the run once the root arrives', async () => {
    const s = sender();
    const root = s.tracer.startSpan('deprovision-account', {
      attributes: { 'nhi.workflow.run.id': 'run-late-root-0001', 'nhi.workflow.name': 'deprovisioning' },
    });
    const traceId = root.spanContext().traceId;
    childOf(s, root, 'disable-account').end();
    await s.flush();
    expect(spansOfTrace(runledger.dbPath, traceId).map((x) => [x.name, x.run_key])).toEqual([['disable-account', null]]);

    root.end();
    await s.flush();
    expect(spansOfTrace(runledger.dbPath, traceId).map((x) => [x.name, x.run_key])).toEqual([
      ['deprovision-account', 'run-late-root-0001'],
      ['disable-account', 'run-late-root-0001'],
    ]);
  });

  it('routes a child exported after its root to the run without any identity attribute', async () => {
    const s = sender();
    const root = s.tracer.startSpan('access-review', { attributes: { 'nhi.workflow.run.id': 'run-late-child-0001' } });
    root.end();
    await s.flush();
    childOf(s, root, 'late-step').end();
    await s.flush();
    expect(spansOfTrace(runledger.dbPath, root.spanContext().traceId).map((x) => [x.name, x.run_key])).toEqual([
      ['access-review', 'run-late-child-0001'],
      ['late-step', 'run-late-child-0001'],
    ]);
  });

  it('uses the trace id as run key when the root names the workflow but carries no run id', async () => {
    const s = sender();
    const root = s.tracer.startSpan('agent-task', { attributes: { 'nhi.workflow.name': 'ticket_triage_agent' } });
    childOf(s, root, 'execute_tool').end();
    root.end();
    await s.flush();

    const traceId = root.spanContext().traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(spansOfTrace(runledger.dbPath, traceId).map((x) => x.run_key)).toEqual([traceId, traceId]);
  });

  it('binds a child exported before a root that only names its workflow to the trace id', async () => {
    const s = sender();
    const root = s.tracer.startSpan('agent-task', { attributes: { 'gen_ai.workflow.name': 'on_call_agent' } });
    const traceId = root.spanContext().traceId;
    childOf(s, root, 'execute_tool').end();
    await s.flush();
    expect(spansOfTrace(runledger.dbPath, traceId).map((x) => x.run_key)).toEqual([null]);

    root.end();
    await s.flush();
    expect(spansOfTrace(runledger.dbPath, traceId).map((x) => [x.name, x.run_key])).toEqual([
      ['agent-task', traceId],
      ['execute_tool', traceId],
    ]);
  });

  it('accepts gzip-compressed exports', async () => {
    const s = sender({ 'service.name': 'rotation-controller' }, true);
    const root = s.tracer.startSpan('rotate-secret', {
      attributes: { 'nhi.workflow.run.id': 'run-gzip-0001', 'nhi.workflow.kind': 'secret_rotation' },
    });
    for (let i = 0; i < 50; i++) childOf(s, root, `distribute-${String(i).padStart(2, '0')}`).end();
    root.end();
    await s.flush();

    const stored = spansOfTrace(runledger.dbPath, root.spanContext().traceId);
    expect(stored).toHaveLength(51);
    expect(new Set(stored.map((x) => x.run_key))).toEqual(new Set(['run-gzip-0001']));
  });

  it('drops spans matching filter.exclude and counts them as excluded', async () => {
    const before = await metricValue(runledger.httpUrl, 'runledger_spans_dropped_total', { reason: 'excluded' });
    const s = sender({ 'service.name': 'healthcheck' });
    // A run identity would otherwise keep them: the exclude rule must win.
    const root = s.tracer.startSpan('probe', { attributes: { 'nhi.workflow.run.id': 'run-excluded-0001' } });
    childOf(s, root, 'probe-step').end();
    childOf(s, root, 'probe-step-2').end();
    root.end();
    await s.flush();

    expect(spansOfTrace(runledger.dbPath, root.spanContext().traceId)).toEqual([]);
    const after = await metricValue(runledger.httpUrl, 'runledger_spans_dropped_total', { reason: 'excluded' });
    expect(after - before).toBe(3);
  });
});
