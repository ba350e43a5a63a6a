import type { OtelSender } from './otel-sender.js';
import { waitForRuns } from './runs-cli.js';
import { change, decision, emitRun, newRunId, StepClock, workflowRoot, type EmittedRun, type RunFields, type StepSpec } from './workflows.js';

/**
 * A known mix of workflow runs, sent through the real OTel SDK exporter, for tests that read the API
 * and /metrics back and assert on exact values:
 *
 * | run | workflow | kind            | actor        | status     | why                                  |
 * |-----|----------|-----------------|--------------|------------|--------------------------------------|
 * | a1  | A        | secret_rotation | rotator      | compliant  |                                      |
 * | a2  | A        | secret_rotation | rotator-eu   | compliant  |                                      |
 * | a3  | A        | secret_rotation | rotator      | compliant  | first use of trigger event E          |
 * | b1  | B        | jit_access      | jit-broker   | incomplete | no requester.id                       |
 * | b2  | B        | jit_access      | jit-broker   | incomplete | no requester.id                       |
 * | v   | A        | secret_rotation | rotator      | violation  | replays trigger event E (after a3)    |
 *
 * Each run starts at a known time, 10 s apart in the order above (`startedAt`), so "newest first" and
 * the since/until filters have exact expected answers.
 */

export const MIX_ORDER = ['a1', 'a2', 'a3', 'b1', 'b2', 'v'] as const;
export type MixRunName = (typeof MIX_ORDER)[number];

export const ROTATOR = 'system:serviceaccount:secrets:rotator';
export const ROTATOR_EU = 'system:serviceaccount:secrets:rotator-eu';
export const JIT_BROKER = 'system:serviceaccount:access:jit-broker';

export interface SentRun {
  readonly name: MixRunName;
  readonly runId: string;
  readonly fields: RunFields;
  readonly emitted: EmittedRun;
  /** The root span's start (the run's start), epoch ms. */
  readonly startedAtMs: number;
  /** The clock the run was emitted with: reuse it for late spans so they come after the run's own. */
  readonly clock: StepClock;
}

export interface RunMix {
  readonly workflowA: string;
  readonly workflowB: string;
  readonly eventSource: string;
  readonly eventId: string;
  readonly runs: Readonly<Record<MixRunName, SentRun>>;
  /** Run ids in the order the API lists them: newest start first. */
  readonly newestFirst: readonly string[];
  /** Every span the exporter sent. */
  readonly spanCount: () => number;
  readonly ids: (...names: MixRunName[]) => string[];
}

const rotationSteps = (): StepSpec[] => [
  decision('rotation.window', 'allow'),
  change('create', 'vault:kv/smtp#v5'),
  change('distribute', 'k8s:mailer/smtp'),
  change('verify', 'svc:mailer'),
  change('revoke', 'vault:kv/smtp#v4'),
];

const jitSteps = (): StepSpec[] => [decision('jit.admin', 'allow'), change('grant', 'role/cluster-admin:bob')];

/**
 * Sends the mix and waits until all six runs are evaluated. `label` keeps workflow names (and so
 * metric label values) distinct per test file; the run ids are unique per call.
 */
export async function sendRunMix(sender: OtelSender, dbPath: string, label: string): Promise<RunMix> {
  const suffix = newRunId('mix').slice(4);
  const workflowA = `e2e-${label}-rotate-${suffix}`;
  const workflowB = `e2e-${label}-jit-${suffix}`;
  const eventSource = '//scheduler.e2e/rotations';
  const eventId = newRunId('event');
  const baseMs = Date.now() - 10 * 60_000;
  const rotation = (name: MixRunName, over: RunFields = {}): RunFields => ({
    runId: newRunId(`${label}-${name}`),
    workflow: workflowA,
    kind: 'secret_rotation',
    result: 'success',
    triggerKind: 'schedule',
    actorId: ROTATOR,
    actorType: 'service_account',
    ...over,
  });
  const jit = (name: MixRunName): RunFields => ({
    runId: newRunId(`${label}-${name}`),
    workflow: workflowB,
    kind: 'jit_access',
    result: 'success',
    triggerKind: 'api',
    actorId: JIT_BROKER,
    actorType: 'service_account',
    grantExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    // requesterId left out: the run is incomplete (missing_field requester.id).
  });
  const specs: Record<MixRunName, { fields: RunFields; steps: StepSpec[] }> = {
    a1: { fields: rotation('a1'), steps: rotationSteps() },
    a2: { fields: rotation('a2', { actorId: ROTATOR_EU }), steps: rotationSteps() },
    a3: { fields: rotation('a3', { triggerKind: 'event', eventSource, eventId }), steps: rotationSteps() },
    b1: { fields: jit('b1'), steps: jitSteps() },
    b2: { fields: jit('b2'), steps: jitSteps() },
    v: { fields: rotation('v', { triggerKind: 'event', eventSource, eventId }), steps: rotationSteps() },
  };
  const sent = {} as Record<MixRunName, SentRun>;
  const emit = (name: MixRunName, index: number) => {
    const startMs = baseMs + index * 10_000;
    const clock = new StepClock(startMs);
    const { fields, steps } = specs[name];
    const emitted = emitRun(sender.tracer, workflowRoot(fields, steps), { clock });
    // StepClock hands out startMs + 1 first: that is the root's start.
    sent[name] = { name, runId: fields.runId!, fields, emitted, startedAtMs: startMs + 1, clock };
  };
  MIX_ORDER.slice(0, 5).forEach((name, i) => emit(name, i));
  await sender.flush();
  await waitForRuns(dbPath, MIX_ORDER.slice(0, 5).map((n) => sent[n].runId));
  // The replay goes out only once the original is judged, as a real replay would come later.
  emit('v', 5);
  await sender.flush();
  await waitForRuns(dbPath, [sent.v.runId]);
  return {
    workflowA,
    workflowB,
    eventSource,
    eventId,
    runs: sent,
    newestFirst: [...MIX_ORDER].reverse().map((n) => sent[n].runId),
    spanCount: () => MIX_ORDER.reduce((sum, n) => sum + sent[n].emitted.spans.length, 0),
    ids: (...names) => names.map((n) => sent[n].runId),
  };
}
