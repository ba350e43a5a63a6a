import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { codesOf, waitForRun, waitForRuns, type RunView } from '../support/runs-cli.js';
import { change, decision, emitRun, newRunId, StepClock, workflowRoot, type RunFields, type StepSpec } from '../support/workflows.js';

/**
 * DESIGN §1/§5: an auditor must tell a legitimate approval from a replayed event — the same trigger
 * event, or the same approval, used by two runs. A retried step inside one run is not a replay.
 */

const jit = (over: RunFields = {}): RunFields => ({
  runId: newRunId('replay'),
  workflow: 'e2e-replay-jit-admin',
  kind: 'jit_access',
  result: 'success',
  triggerKind: 'event',
  actorId: 'system:serviceaccount:access:jit-broker',
  actorType: 'service_account',
  requesterId: 'bob@corp.example',
  grantExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  ...over,
});
const approved = (decisionId: string = newRunId('decision')): StepSpec[] => [
  decision('jit.admin', 'allow', { id: decisionId }),
  change('grant', 'role/cluster-admin:bob'),
];

interface JudgeOptions {
  readonly clock?: StepClock;
  readonly root?: Omit<StepSpec, 'name' | 'children'>;
}

// Each test uses its own event and decision ids, so the tests run concurrently against one process.
describe.concurrent('replayed triggers and reused approvals', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: 200 } } });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-jit-broker' });
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  /**
   * Emits one run and waits until it is judged, so the next run is judged after it; reads it back with
   * `runs show` unless `readBack` is false (each read is a Node start).
   */
  async function judge(fields: RunFields, steps: readonly StepSpec[], options?: JudgeOptions & { readBack?: true }): Promise<RunView>;
  async function judge(fields: RunFields, steps: readonly StepSpec[], options: JudgeOptions & { readBack: false }): Promise<void>;
  async function judge(fields: RunFields, steps: readonly StepSpec[], options: JudgeOptions & { readBack?: boolean } = {}): Promise<RunView | void> {
    emitRun(sender.tracer, workflowRoot(fields, steps, options.root), options.clock !== undefined ? { clock: options.clock } : {});
    await sender.flush();
    if (options.readBack === false) return waitForRuns(runledger.dbPath, [fields.runId!]);
    return waitForRun(runledger, fields.runId!);
  }

  it('flags a run started by a trigger event an earlier run already used as replayed_trigger', async () => {
    const event = { eventSource: '//access-requests.e2e/tickets', eventId: newRunId('ticket') };
    const original = await judge(jit(event), approved());
    expect(original).toMatchObject({ status: 'compliant', outcome: 'complete' });
    expect(original.trigger?.event).toBe(`${event.eventSource}|${event.eventId}`);

    const replay = await judge(jit(event), approved());
    expect(replay.status).toBe('violation');
    expect(codesOf(replay)).toEqual(['replayed_trigger']);
    const found = replay.findings![0]!;
    expect(found).toMatchObject({ severity: 'critical', field: 'trigger.event_id' });
    expect(found.message).toContain(original.run_id);
    expect(found.controls).toEqual(expect.arrayContaining(['NHI4', 'DE.CM-09']));
  });

  it('tells apart the same event id from two different event sources', async () => {
    const eventId = newRunId('ticket');
    await judge(jit({ eventSource: '//access-requests.e2e/tickets', eventId }), approved(), { readBack: false });
    const other = await judge(jit({ eventSource: '//access-requests.e2e/chatops', eventId }), approved());
    expect(codesOf(other)).toEqual([]);
    expect(other.status).toBe('compliant');
  });

  it('detects a replay keyed by nhi.trigger.event_id alone', async () => {
    const eventId = newRunId('webhook');
    const withEventId = { attributes: { 'nhi.trigger.event_id': eventId } };
    const original = await judge(jit(), approved(), { root: withEventId });
    expect(original.trigger?.event).toBe(`|${eventId}`);
    const replay = await judge(jit(), approved(), { root: withEventId });
    expect(codesOf(replay)).toEqual(['replayed_trigger']);
  });

  it('flags a decision id that already authorised another run as reused_approval', async () => {
    const decisionId = newRunId('approval');
    const originalFields = jit();
    await judge(originalFields, approved(decisionId), { readBack: false });
    const clock = new StepClock();
    const reusedFields = jit();
    const steps = approved(decisionId);
    const emitted = emitRun(sender.tracer, workflowRoot(reusedFields, steps), { clock });
    await sender.flush();
    const reused = await waitForRun(runledger, reusedFields.runId!);
    expect(reused.status).toBe('violation');
    expect(codesOf(reused)).toEqual(['reused_approval']);
    expect(reused.findings![0]).toMatchObject({ field: 'decision.id', severity: 'critical', span_id: emitted.spanId('policy jit.admin') });
    expect(reused.findings![0]!.message).toContain(originalFields.runId);
  });

  it('does not flag a trigger event or a decision id repeated inside one run by a retried step', async () => {
    const fields = jit({ eventSource: '//access-requests.e2e/tickets', eventId: newRunId('ticket') });
    const decisionId = newRunId('approval');
    const run = await judge(fields, [
      // The policy call timed out once and was retried with the same decision id.
      decision('jit.admin', 'allow', { id: decisionId, name: 'policy attempt 1', errorType: 'connector_timeout' }),
      decision('jit.admin', 'allow', { id: decisionId, name: 'policy attempt 2' }),
      // The event was redelivered inside the run: the consumer span carries it again.
      { name: 'receive ticket again', attributes: { 'cloudevents.event_source': fields.eventSource!, 'cloudevents.event_id': fields.eventId! } },
      change('grant', 'role/cluster-admin:bob'),
    ]);
    expect(codesOf(run)).toEqual([]);
    expect(run.status).toBe('compliant');
  });

  // Regression: the replay checks returned any *other* run that used the key, not an earlier one, so an
  // original amended after its replay was judged was flagged as the replay of its own replay.
  it('keeps the original run clean when it is amended after its replay was judged', async () => {
    const event = { eventSource: '//access-requests.e2e/tickets', eventId: newRunId('ticket') };
    const decisionId = newRunId('approval');
    const clock = new StepClock();
    const originalFields = jit(event);
    const original = emitRun(sender.tracer, workflowRoot(originalFields, approved(decisionId)), { clock });
    await sender.flush();
    await waitForRun(runledger, originalFields.runId!);
    const replay = await judge(jit(event), approved(decisionId), { clock });
    expect(codesOf(replay)).toEqual(['replayed_trigger', 'reused_approval']);

    // A late span of the original (e.g. an audit log write) amends it.
    emitRun(sender.tracer, { name: 'write audit record' }, { clock, parent: original.rootContext });
    await sender.flush();
    const amended = await waitForRun(runledger, originalFields.runId!, { minRevision: 2 });
    expect(amended.revisions?.map((r) => r.reason)).toEqual(['settled', 'amended']);
    expect(codesOf(amended)).toEqual([]);
    expect(amended.status).toBe('compliant');
  });
});
