import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, waitForLog, type RunledgerProcess } from '../support/runledger-process.js';
import { codesOf, findingsOf, listRuns, showRun, waitForRun, waitForRuns } from '../support/runs-cli.js';
import { metricValue } from '../support/metrics.js';
import { readDb, spansOfTrace } from '../support/stored-spans.js';
import { tamper } from '../support/store-copies.js';
import {
  change,
  contextFromTraceparent,
  decision,
  emitRun,
  newRunId,
  runAttributes,
  StepClock,
  traceparentOf,
  workflowRoot,
  type RunFields,
} from '../support/workflows.js';

/**
 * DESIGN §4: how spans become runs, when runs are judged, and how late spans amend them. Every test
 * uses its own run ids (and the restart and rootless ones their own processes), so they run concurrently.
 */

const SETTLE_MS = 200;
/** Long enough for a run that could be judged to have been judged (settle plus a few ticks). */
const QUIET_MS = SETTLE_MS * 3;
/**
 * max_open_ms of the process restarted on a rootless run first received an hour earlier: far beyond any
 * test's life, so a run judged at all was judged by its first arrival (no wall-clock margin to miss).
 */
const MAX_OPEN_AFTER_RESTART_MS = 30 * 60_000;

/** A run's index row, read the way `runs show` reads it but without starting a Node process. */
const runRow = (p: RunledgerProcess, runId: string) =>
  readDb(p.dbPath, (db) => db.prepare('SELECT state, revision, span_count FROM runs WHERE run_key = ?').get(runId));

const rotation = (over: RunFields = {}): RunFields => ({
  runId: newRunId('assembly'),
  workflow: 'e2e-assembly-rotate-api-key',
  kind: 'secret_rotation',
  result: 'success',
  triggerKind: 'schedule',
  actorId: 'system:serviceaccount:secrets:rotator',
  actorType: 'service_account',
  ...over,
});
const rotationSteps = () => [
  decision('rotation.window', 'allow'),
  change('create', 'vault:kv/api-key#v3'),
  change('distribute', 'k8s:billing/api-key'),
  change('verify', 'svc:billing'),
  change('revoke', 'vault:kv/api-key#v2'),
];

describe.concurrent('run assembly', () => {
  let runledger: RunledgerProcess;
  const senders: OtelSender[] = [];
  const sender = (service: string): OtelSender => {
    const s = createOtelSender(runledger.grpcUrl, { 'service.name': service });
    senders.push(s);
    return s;
  };

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: SETTLE_MS } } });
  });

  afterAll(async () => {
    await Promise.all(senders.map((s) => s.shutdown()));
    await runledger?.stop();
  });

  it('keeps a run open while only children arrived, and judges it once its root arrives', async () => {
    const orchestrator = sender('e2e-rotation-orchestrator');
    const fields = rotation();
    // Every child carries the run id, so the run exists before its root does.
    const steps = rotationSteps().map((s) => ({ ...s, attributes: { ...s.attributes, 'nhi.workflow.run.id': fields.runId! } }));
    const emitted = emitRun(orchestrator.tracer, workflowRoot(fields, steps), { deferRootEnd: true });
    await orchestrator.flush();
    await sleep(QUIET_MS);
    const waiting = await showRun(runledger.configPath, fields.runId!);
    expect(waiting).toMatchObject({ revision: 0, state: 'open' });

    emitted.endRoot();
    await orchestrator.flush();
    const run = await waitForRun(runledger, fields.runId!);
    expect(run).toMatchObject({ revision: 1, state: 'evaluated', status: 'compliant', outcome: 'complete', root_span_id: emitted.rootSpanId });
    expect(run.span_count).toBe(6);
    expect(run.workflow).toBe('e2e-assembly-rotate-api-key');
    expect(run.revisions?.map((r) => r.reason)).toEqual(['settled']);
    expect(codesOf(run)).toEqual([]);
  });

  it('joins spans another service exported before the root, through propagated trace context', async () => {
    const orchestrator = sender('e2e-rotation-orchestrator');
    const worker = sender('e2e-rotation-worker');
    const fields = rotation();
    const clock = new StepClock();
    // The orchestrator decides, then calls the worker; the worker's spans carry no run identity.
    const root = emitRun(orchestrator.tracer, workflowRoot(fields, [decision('rotation.window', 'allow')]), { clock, deferRootEnd: true });
    const header = traceparentOf(root.rootContext);
    const handled = emitRun(
      worker.tracer,
      { name: 'POST /rotations', kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST', 'http.route': '/rotations' }, children: rotationSteps().slice(1) },
      { clock, parent: contextFromTraceparent(header) },
    );
    await worker.flush();
    await sleep(QUIET_MS);
    // Nothing names a run yet: the worker's spans wait, stored without a run, for their trace's root.
    expect(runRow(runledger, fields.runId!)).toBeUndefined();
    const pending = spansOfTrace(runledger.dbPath, root.traceId);
    expect(pending.length).toBeGreaterThanOrEqual(handled.spans.length);
    expect(pending.filter((s) => s.run_key !== null)).toEqual([]);

    root.endRoot();
    await orchestrator.flush();
    const run = await waitForRun(runledger, fields.runId!);
    expect(run).toMatchObject({ revision: 1, status: 'compliant', outcome: 'complete', root_span_id: root.rootSpanId });
    expect(run.trace_ids).toEqual([root.traceId]);
    expect(run.steps?.map((s) => s.service)).toEqual([
      'e2e-rotation-orchestrator',
      'e2e-rotation-orchestrator',
      'e2e-rotation-worker',
      'e2e-rotation-worker',
      'e2e-rotation-worker',
      'e2e-rotation-worker',
      'e2e-rotation-worker',
    ]);
    expect(run.steps?.find((s) => s.name === 'POST /rotations')?.parent_span_id).toBe(root.rootSpanId);
    expect(run.steps?.map((s) => s.span_id)).toEqual(expect.arrayContaining(handled.spans.map((s) => s.spanId)));
  });

  it('assembles one run from two traces of two services that carry the same run id', async () => {
    const orchestrator = sender('e2e-rotation-orchestrator');
    const worker = sender('e2e-rotation-worker');
    const fields = rotation();
    const clock = new StepClock();
    const first = emitRun(orchestrator.tracer, workflowRoot(fields, [decision('rotation.window', 'allow')]), { clock });
    // A job started separately (a new trace) that names the same run.
    const second = emitRun(
      worker.tracer,
      { name: 'rotation job', attributes: runAttributes({ runId: fields.runId }), children: rotationSteps().slice(1) },
      { clock },
    );
    await Promise.all([worker.flush(), orchestrator.flush()]);
    let run = await waitForRun(runledger, fields.runId!);
    // Each trace has a root of its own: if one export came later than settle_ms, it amends the run.
    if (run.trace_ids?.length !== 2) run = await waitForRun(runledger, fields.runId!, { minRevision: run.revision + 1 });
    expect(run.trace_ids ?? [], 'both traces in the latest revision').toHaveLength(2);
    expect([...run.trace_ids!].sort()).toEqual([first.traceId, second.traceId].sort());
    expect(run).toMatchObject({ status: 'compliant', outcome: 'complete', root_span_id: first.rootSpanId, span_count: 7 });
  });

  // A callee that puts the propagated run id on its SERVER span makes that span a root candidate:
  // callees end (and export) before their caller, so the run can settle on the callee's spans alone.
  // The caller's root then amends it. (Revision 1 is judged without the root's evidence: see the report.)
  it('amends a run first judged on a callee SERVER span once the caller root arrives', async () => {
    const orchestrator = sender('e2e-rotation-orchestrator');
    const worker = sender('e2e-rotation-worker');
    const fields = rotation();
    const clock = new StepClock();
    const root = emitRun(orchestrator.tracer, workflowRoot(fields, [decision('rotation.window', 'allow')]), { clock, deferRootEnd: true });
    const served = emitRun(
      worker.tracer,
      { name: 'POST /rotations', kind: SpanKind.SERVER, attributes: runAttributes({ runId: fields.runId }), children: rotationSteps().slice(1) },
      { clock, parent: contextFromTraceparent(traceparentOf(root.rootContext)) },
    );
    await worker.flush();
    // On a busy machine the SDK may export the worker's spans in two batches a settle apart: the run is
    // then judged twice before its root arrives. What matters is on which root, not how many times.
    const early = await waitForRun(runledger, fields.runId!);
    expect(early).toMatchObject({ root_span_id: served.rootSpanId, status: 'incomplete' });
    expect(findingsOf(early)).toEqual(expect.arrayContaining(['missing_field:run.workflow', 'missing_field:actor.id']));

    root.endRoot();
    await orchestrator.flush();
    let amended = await waitForRun(runledger, fields.runId!, { minRevision: early.revision + 1 });
    while (amended.root_span_id === served.rootSpanId) amended = await waitForRun(runledger, fields.runId!, { minRevision: amended.revision + 1 });
    expect(amended).toMatchObject({ root_span_id: root.rootSpanId, status: 'compliant', outcome: 'complete', span_count: 7 });
    const reasons = amended.revisions?.map((r) => r.reason) ?? [];
    expect(reasons[0]).toBe('settled');
    expect(reasons.slice(1)).toEqual(Array(reasons.length - 1).fill('amended'));
  });

  // Regression: spans without a run id were routed by trace only, so when one trace held several runs
  // (a worker that takes two jobs in one poll) every child followed the first run id of the batch.
  it('keeps two runs started inside one trace apart, each with its own children', async () => {
    const worker = sender('e2e-job-worker');
    const clock = new StepClock();
    const first = rotation();
    const second = rotation();
    const job = (fields: RunFields) => ({ ...workflowRoot(fields, rotationSteps()), name: `process ${fields.runId}`, kind: SpanKind.CONSUMER });
    emitRun(worker.tracer, { name: 'poll rotation-jobs', children: [job(first), job(second)] }, { clock });
    await worker.flush();
    await waitForRuns(runledger.dbPath, [first.runId!, second.runId!]);
    const [a, b] = await Promise.all([showRun(runledger.configPath, first.runId!), showRun(runledger.configPath, second.runId!)]);
    // The poll span names no run: it may join either; each job's five steps must stay with their job.
    expect(a!.span_count).toBeGreaterThanOrEqual(6);
    expect(a!.span_count).toBeLessThanOrEqual(7);
    expect(b).toMatchObject({ status: 'compliant', outcome: 'complete' });
    expect(b!.span_count).toBeGreaterThanOrEqual(6);
  });

  it('amends a judged run when a late span arrives: revision 2, reason amended, revision 1 kept', async () => {
    const orchestrator = sender('e2e-rotation-orchestrator');
    const fields = rotation({ eventSource: '//scheduler.e2e/rotations', eventId: newRunId('evt') });
    const clock = new StepClock();
    const steps = rotationSteps().filter((s) => s.attributes?.['nhi.change.operation'] !== 'verify');
    const emitted = emitRun(orchestrator.tracer, workflowRoot(fields, steps), { clock });
    await orchestrator.flush();
    const first = await waitForRun(runledger, fields.runId!);
    expect(first).toMatchObject({ revision: 1, status: 'incomplete', outcome: 'partial' });
    expect(codesOf(first)).toContain('partial_change');

    // The verification step's span was exported late (e.g. a retried export), under the same root.
    emitRun(orchestrator.tracer, change('verify', 'svc:billing'), { clock, parent: emitted.rootContext });
    await orchestrator.flush();
    const amended = await waitForRun(runledger, fields.runId!, { minRevision: 2 });
    expect(amended).toMatchObject({ revision: 2, status: 'compliant', outcome: 'complete', span_count: 6 });
    // The run's own trigger is not a replay of itself.
    expect(codesOf(amended)).toEqual([]);
    expect(amended.revisions?.map((r) => [r.revision, r.reason, r.status, r.outcome])).toEqual([
      [1, 'settled', 'incomplete', 'partial'],
      [2, 'amended', 'compliant', 'complete'],
    ]);
    const kept = await showRun(runledger.configPath, fields.runId!, { revision: 1 });
    expect(kept).toMatchObject({ revision: 1, status: 'incomplete', outcome: 'partial', span_count: 5 });
    expect(findingsOf(kept!)).toEqual(findingsOf(first));
  });
});

describe.concurrent('runs without a root span the assembler recognises', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;

  beforeAll(async () => {
    // max_open_ms short enough that a run the assembler never sees a root for is judged within the test.
    runledger = await startRunledger({ config: { runs: { settle_ms: SETTLE_MS, max_open_ms: 1000 } } });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-rootless' });
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  it('judges a run whose root never arrived after max_open_ms with root_span_missing, and amends it when the root comes', async () => {
    const fields = rotation();
    const clock = new StepClock();
    const emitted = emitRun(
      sender.tracer,
      workflowRoot(
        fields,
        rotationSteps().map((s) => ({ ...s, attributes: { ...s.attributes, 'nhi.workflow.run.id': fields.runId! } })),
      ),
      { clock, deferRootEnd: true },
    );
    await sender.flush();
    const judged = await waitForRun(runledger, fields.runId!);
    expect(judged.revisions?.map((r) => r.reason)).toEqual(['max_open']);
    expect(judged.status).toBe('incomplete');
    expect(judged.findings?.find((f) => f.code === 'root_span_missing')).toMatchObject({ severity: 'warning' });
    // The run id was on the children, the rest of the evidence was on the root that never came.
    expect(findingsOf(judged)).toEqual(
      expect.arrayContaining(['root_span_missing', 'missing_field:run.workflow', 'missing_field:actor.id']),
    );

    emitted.endRoot();
    await sender.flush();
    const amended = await waitForRun(runledger, fields.runId!, { minRevision: 2 });
    expect(amended).toMatchObject({ revision: 2, status: 'compliant', outcome: 'complete', root_span_id: emitted.rootSpanId });
    expect(amended.revisions?.map((r) => r.reason)).toEqual(['max_open', 'amended']);
  });

  // Regression: HTTP auto-instrumentation puts a SERVER span (no run identity) above the workflow's own
  // INTERNAL span. The evaluator took that workflow span as the root, but the assembler did not (it has
  // a parent and is not SERVER/CONSUMER), so the run waited for max_open_ms and got root_span_missing.
  it('judges a workflow span under an HTTP SERVER span as the root once settled', async () => {
    const fields = rotation();
    const emitted = emitRun(sender.tracer, {
      name: 'POST /v1/rotations',
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': 'POST', 'http.route': '/v1/rotations', 'http.response.status_code': 202 },
      children: [workflowRoot(fields, rotationSteps())],
    });
    await sender.flush();
    const run = await waitForRun(runledger, fields.runId!);
    expect(run.root_span_id).toBe(emitted.spanId(`workflow ${fields.workflow}`));
    expect(run.revisions?.map((r) => r.reason)).toEqual(['settled']);
    expect(codesOf(run)).toEqual([]);
  });
});

describe.concurrent('restart with open runs', () => {
  const processes: RunledgerProcess[] = [];
  const senders: OtelSender[] = [];

  afterAll(async () => {
    await Promise.all(senders.map((s) => s.shutdown()));
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  });

  /** A process whose settle window is far beyond the test, so nothing it holds is judged before it stops. */
  const startHolding = async (dir?: string) => {
    const p = await startRunledger({ ...(dir !== undefined ? { dir } : {}), config: { runs: { settle_ms: 600_000 } } });
    processes.push(p);
    return p;
  };
  const sendRun = async (p: RunledgerProcess): Promise<string> => {
    const sender = createOtelSender(p.grpcUrl, { 'service.name': 'e2e-restart' });
    senders.push(sender);
    const fields = rotation();
    emitRun(sender.tracer, workflowRoot(fields, rotationSteps()));
    await sender.flush(); // resolves once runledger acknowledged, i.e. committed, the spans
    return fields.runId!;
  };

  it('keeps runs open across SIGTERM and SIGKILL, and judges them once restarted with a short settle window', async () => {
    const first = await startHolding();
    const beforeTerm = await sendRun(first);
    expect(runRow(first, beforeTerm)).toEqual({ state: 'open', revision: 0, span_count: 6 });
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = await startHolding(first.dir);
    expect(await waitForLog(second, (l) => l.msg === 'resumed open runs')).toMatchObject({ open_runs: 1 });
    const beforeKill = await sendRun(second);
    expect(runRow(second, beforeTerm)).toEqual({ state: 'open', revision: 0, span_count: 6 });
    expect(await second.stop('SIGKILL')).toBe('SIGKILL');

    const third = await startRunledger({ dir: first.dir, config: { runs: { settle_ms: SETTLE_MS } } });
    processes.push(third);
    expect(await waitForLog(third, (l) => l.msg === 'resumed open runs')).toMatchObject({ open_runs: 2 });
    await waitForRuns(third.dbPath, [beforeTerm, beforeKill]);
    const judged = await listRuns(third.configPath);
    expect(judged.map((r) => [r.run_id, r.revision, r.reason, r.status, r.outcome, r.span_count]).sort()).toEqual(
      [beforeTerm, beforeKill].map((id) => [id, 1, 'settled', 'compliant', 'complete', 6]).sort(),
    );
  });

  it('judges a rootless run by its first arrival before the restart, not by the restart', async () => {
    const first = await startRunledger({ config: { runs: { settle_ms: SETTLE_MS, max_open_ms: 600_000 } } });
    processes.push(first);
    const sender = createOtelSender(first.grpcUrl, { 'service.name': 'e2e-restart' });
    senders.push(sender);
    const fields = rotation();
    const steps = rotationSteps().map((s) => ({ ...s, attributes: { ...s.attributes, 'nhi.workflow.run.id': fields.runId! } }));
    emitRun(sender.tracer, workflowRoot(fields, steps), { deferRootEnd: true });
    await sender.flush(); // acknowledged: its spans and its open run are committed
    expect(await first.stop('SIGKILL')).toBe('SIGKILL');
    // The run was first received an hour before the restart (the store is where that time lives).
    const anHourAgoNs = (BigInt(Date.now()) - 3_600_000n) * 1_000_000n;
    tamper(first.dbPath, (db) => {
      const moved = db.prepare("UPDATE runs SET first_received_ns = ? WHERE run_key = ? AND state = 'open'").run(anHourAgoNs, fields.runId!);
      expect(moved.changes).toBe(1);
    });

    // Its max_open_ms ran out before the restart: the restarted process judges it at once. Counted from
    // the restart it would wait 30 minutes, and this test would time out instead.
    const second = await startRunledger({ dir: first.dir, config: { runs: { settle_ms: SETTLE_MS, max_open_ms: MAX_OPEN_AFTER_RESTART_MS } } });
    processes.push(second);
    const run = await waitForRun(second, fields.runId!);
    expect(run.revisions?.map((r) => r.reason)).toEqual(['max_open']);
    expect(codesOf(run)).toContain('root_span_missing');
  });

  it('catches a replay of a trigger event used by a run judged before the restart', async () => {
    const first = await startRunledger({ config: { runs: { settle_ms: SETTLE_MS } } });
    processes.push(first);
    const event = { eventSource: '//scheduler.e2e/rotations', eventId: newRunId('evt') };
    const send = async (p: RunledgerProcess) => {
      const sender = createOtelSender(p.grpcUrl, { 'service.name': 'e2e-restart' });
      senders.push(sender);
      const fields = rotation(event);
      emitRun(sender.tracer, workflowRoot(fields, rotationSteps()));
      await sender.flush();
      return waitForRun(p, fields.runId!);
    };
    const original = await send(first);
    expect(codesOf(original)).toEqual([]);
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = await startRunledger({ dir: first.dir, config: { runs: { settle_ms: SETTLE_MS } } });
    processes.push(second);
    const replay = await send(second);
    expect(replay.status).toBe('violation');
    expect(codesOf(replay)).toEqual(['replayed_trigger']);
    expect(replay.findings![0]!.message).toContain(original.run_id);
  });
});

describe('caps on open runs and spans per run', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: SETTLE_MS, max_open_ms: 600_000, max_open_runs: 2, max_spans_per_run: 4 } } });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-caps' });
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  it('judges a run early when it reaches max_spans_per_run, with run_capped, and counts it', async () => {
    const fields = rotation();
    emitRun(sender.tracer, workflowRoot(fields, rotationSteps()));
    await sender.flush();
    const run = await waitForRun(runledger, fields.runId!);
    expect(run.revisions?.[0]?.reason).toBe('capped');
    const first = await showRun(runledger.configPath, fields.runId!, { revision: 1 });
    expect(first!.status).toBe('incomplete');
    expect(first!.findings?.find((f) => f.code === 'run_capped')).toMatchObject({
      severity: 'warning',
      message: expect.stringContaining('runs.max_spans_per_run (4)'),
    });
    expect(await metricValue(runledger.httpUrl, 'runledger_runs_capped_total', { cap: 'max_spans_per_run' })).toBe(1);
  });

  it('judges the oldest run still collecting spans early when more than max_open_runs are open', async () => {
    // Three runs whose roots are still running (their one child names the run): none can settle yet.
    // Each is exported on its own, so they open in this order.
    const held: Array<{ runId: string; emitted: ReturnType<typeof emitRun> }> = [];
    for (let i = 0; i < 3; i++) {
      const fields = rotation();
      const steps = [decision('rotation.window', 'allow')].map((s) => ({ ...s, attributes: { ...s.attributes, 'nhi.workflow.run.id': fields.runId! } }));
      held.push({ runId: fields.runId!, emitted: emitRun(sender.tracer, workflowRoot(fields, steps), { deferRootEnd: true }) });
      await sender.flush();
    }
    const [oldest, second, third] = held.map((h) => h.runId) as [string, string, string];
    await sleep(QUIET_MS);

    const capped = await waitForRun(runledger, oldest);
    expect(capped.revisions?.map((r) => r.reason)).toEqual(['capped']);
    expect(capped.findings?.find((f) => f.code === 'run_capped')?.message).toContain('runs.max_open_runs (2)');
    expect([runRow(runledger, second), runRow(runledger, third)]).toEqual([
      { state: 'open', revision: 0, span_count: 1 },
      { state: 'open', revision: 0, span_count: 1 },
    ]);
    expect(await metricValue(runledger.httpUrl, 'runledger_runs_capped_total', { cap: 'max_open_runs' })).toBe(1);

    // The other two settle once their roots end, within the cap and without a finding about it.
    held[1]!.emitted.endRoot();
    held[2]!.emitted.endRoot();
    await sender.flush();
    await waitForRuns(runledger.dbPath, [second, third]);
    for (const id of [second, third]) {
      const run = await showRun(runledger.configPath, id);
      expect(run!.revisions?.map((r) => r.reason)).toEqual(['settled']);
      expect(codesOf(run!)).not.toContain('run_capped');
    }
  });
});
