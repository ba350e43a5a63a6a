import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { findingsOf, listRuns, showRun, waitForRuns, type RunView, type StepView } from '../support/runs-cli.js';
import {
  change,
  decision,
  emitRun,
  newRunId,
  toolCall,
  workflowRoot,
  type EmittedRun,
  type RunFields,
  type StepSpec,
} from '../support/workflows.js';

/**
 * Every built-in evidence profile (DESIGN §5) through the real pipeline: the runs are emitted with the
 * OpenTelemetry SDK over OTLP/gRPC, judged by a `serve` process, and read back with `runs list/show`.
 * All runs go to one process at once and are judged together, which keeps the file fast.
 */

interface Expected {
  readonly status: 'compliant' | 'incomplete' | 'violation';
  readonly outcome: 'complete' | 'partial' | 'failed' | 'unknown';
  /** `code` or `code:field`, in any order. */
  readonly findings: readonly string[];
}

interface Scenario {
  readonly title: string;
  readonly fields: RunFields;
  readonly steps: readonly StepSpec[];
  readonly root?: Omit<StepSpec, 'name' | 'children'>;
  readonly expected: Expected;
  /** A verdict that contradicts DESIGN §5: the test asserts the design and is expected to fail. */
  readonly contradictsDesign?: string;
  /** Extra checks on the run as `runs list --json` prints it, or `runs show --json` when `steps` is set. */
  readonly check?: (run: RunView, emitted: EmittedRun) => void;
  /** The check reads the run's steps, which only `runs show` prints. */
  readonly readsSteps?: true;
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

const defaultRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('default'),
  workflow: 'e2e-profiles-deploy-config',
  result: 'success',
  triggerKind: 'api',
  actorId: 'spiffe://corp.example/ns/ops/sa/config-deployer',
  actorType: 'workload',
  ...over,
});
const allow = (policy = 'change-management') => decision(policy, 'allow');

const defaultScenarios: Scenario[] = [
  {
    title: 'judges a run with every default field, an allow decision and a successful change compliant and complete',
    fields: defaultRun(),
    steps: [allow(), change('rotate', 'configmap/payments')],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    readsSteps: true,
    check: (run, emitted) => {
      expect(run.profiles).toEqual(['default']);
      expect(run.root_span_id).toBe(emitted.rootSpanId);
      expect(run.actor).toMatchObject({ id: 'spiffe://corp.example/ns/ops/sa/config-deployer', type: 'workload' });
      expect(run.steps?.[0]).toMatchObject({ span_id: emitted.rootSpanId, root: true });
      expect(run.steps?.map((s) => [s.name, s.type, s.succeeded])).toEqual([
        ['workflow e2e-profiles-deploy-config', 'other', undefined],
        ['policy change-management', 'decision', undefined],
        ['rotate configmap/payments', 'change', true],
      ]);
      // The run spans its history: from the earliest step start to the latest step end (here the root's).
      const times = run as RunView & { started_at?: string | null; ended_at?: string | null };
      const steps = (run.steps ?? []) as ReadonlyArray<StepView & { started_at: string; ended_at: string }>;
      const root = steps.find((s) => s.span_id === emitted.rootSpanId)!;
      expect(times.started_at).toBe(steps.map((s) => s.started_at).sort()[0]);
      expect(times.ended_at).toBe(steps.map((s) => s.ended_at).sort().at(-1));
      expect([times.started_at, times.ended_at]).toEqual([root.started_at, root.ended_at]);
      expect(times.started_at! < times.ended_at!).toBe(true);
    },
  },
  {
    title: 'lists each missing required field (workflow, result, trigger kind, actor) as missing_field',
    fields: { runId: newRunId('default-bare') },
    steps: [allow(), change('rotate', 'configmap/payments')],
    expected: {
      status: 'incomplete',
      outcome: 'complete',
      findings: ['missing_field:run.workflow', 'missing_field:run.result', 'missing_field:trigger.kind', 'missing_field:actor.id'],
    },
  },
  {
    title: 'flags a run without any policy decision as missing_decision',
    fields: defaultRun(),
    steps: [change('rotate', 'configmap/payments')],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_decision:decision.policy'] },
  },
  {
    title: 'flags a decision without a result on its span and does not count it as a decision',
    fields: defaultRun(),
    steps: [decision('change-management', undefined), change('rotate', 'configmap/payments')],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:decision.result', 'missing_decision:decision.policy'] },
    check: (run, emitted) => {
      const f = run.findings!.find((x) => x.code === 'missing_field');
      expect(f?.span_id).toBe(emitted.spanId('policy change-management'));
    },
  },
  {
    title: 'flags a decision without a policy id on its span and does not count it as a decision',
    fields: defaultRun(),
    steps: [decision(undefined, 'allow'), change('rotate', 'configmap/payments')],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:decision.policy', 'missing_decision:decision.policy'] },
    check: (run, emitted) => {
      const f = run.findings!.find((x) => x.code === 'missing_field');
      expect(f?.span_id).toBe(emitted.spanId('policy check'));
      expect(f?.message).toMatch(/decision\.policy/);
    },
  },
  {
    title: 'flags a change without a target as missing_field change.target',
    fields: defaultRun(),
    steps: [allow(), change('rotate', undefined)],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:change.target'] },
  },
  {
    title: 'judges a run declared successful that recorded no change at all as outcome unknown, owing no failure class (DESIGN §5)',
    fields: defaultRun(),
    steps: [allow()],
    expected: {
      status: 'incomplete',
      outcome: 'unknown',
      findings: ['missing_change:change.operation'],
    },
  },
  {
    title: 'accepts a run denied before acting, with failure.class, as compliant with outcome failed',
    fields: defaultRun({ result: 'failure', errorType: 'policy_denied' }),
    steps: [decision('change-management', 'deny')],
    expected: { status: 'compliant', outcome: 'failed', findings: [] },
  },
  {
    title: 'requires failure.class of a run that failed before acting',
    fields: defaultRun({ result: 'failure' }),
    steps: [decision('change-management', 'deny')],
    expected: { status: 'incomplete', outcome: 'failed', findings: ['missing_field:failure.class'] },
  },
  {
    title: 'takes the declared result from the root span status when no result attribute is set (DESIGN §5 run.result)',
    fields: defaultRun({ result: undefined, errorType: 'policy_denied' }),
    root: { status: 'error', statusMessage: 'denied by policy' },
    steps: [decision('change-management', 'deny')],
    expected: { status: 'compliant', outcome: 'failed', findings: [] },
  },
  {
    title: 'counts a change retried after a failed attempt by its last attempt',
    fields: defaultRun(),
    steps: [
      allow(),
      change('rotate', 'configmap/payments', { errorType: 'connector_timeout', name: 'rotate attempt 1' }),
      change('rotate', 'configmap/payments', { name: 'rotate attempt 2' }),
    ],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    readsSteps: true,
    check: (run) => {
      expect(run.steps?.filter((s) => s.type === 'change').map((s) => s.succeeded)).toEqual([false, true]);
    },
  },
  {
    title: 'judges a run whose only change failed as failed, and a declared success as a mismatch',
    fields: defaultRun(),
    steps: [allow(), change('rotate', 'configmap/payments', { errorType: 'connector_timeout' })],
    expected: { status: 'incomplete', outcome: 'failed', findings: ['declared_result_mismatch:run.result'] },
  },
  {
    title: 'judges a run with one failed change beside a successful one as partial',
    fields: defaultRun(),
    steps: [
      allow(),
      change('rotate', 'configmap/payments'),
      change('rotate', 'configmap/ledger', { errorType: 'connector_timeout' }),
    ],
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run, emitted) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.span_id).toBe(emitted.spanId('rotate configmap/ledger'));
      expect(partial?.severity).toBe('error');
    },
  },
  {
    title: 'judges a run declared failed whose every change succeeded complete, with an info declared_result_mismatch (compliant)',
    fields: defaultRun({ result: 'failure', errorType: 'connector_timeout' }),
    steps: [allow(), change('rotate', 'configmap/payments')],
    expected: { status: 'compliant', outcome: 'complete', findings: ['declared_result_mismatch:run.result'] },
    check: (run) => {
      const mismatch = run.findings!.find((f) => f.code === 'declared_result_mismatch');
      expect(mismatch?.severity).toBe('info');
      expect(mismatch?.message).toMatch(/declared "failure" but every change step succeeded/);
    },
  },
  {
    title: 'counts a change that succeeded and then failed on a later attempt by its last attempt: failed',
    fields: defaultRun(),
    steps: [
      allow(),
      change('rotate', 'configmap/payments', { name: 'rotate attempt 1' }),
      change('rotate', 'configmap/payments', { errorType: 'connector_timeout', name: 'rotate attempt 2' }),
    ],
    expected: { status: 'incomplete', outcome: 'failed', findings: ['declared_result_mismatch:run.result'] },
    readsSteps: true,
    check: (run) => {
      expect(run.steps?.filter((s) => s.type === 'change').map((s) => [s.name, s.succeeded])).toEqual([
        ['rotate attempt 1', true],
        ['rotate attempt 2', false],
      ]);
      const mismatch = run.findings!.find((f) => f.code === 'declared_result_mismatch');
      expect(mismatch?.severity).toBe('warning');
      expect(mismatch?.message).toMatch(/outcome failed/);
    },
  },
  {
    title: 'requires failure.class of a failed run whose failed change carries only span status ERROR',
    fields: defaultRun({ result: 'failure' }),
    steps: [allow(), change('rotate', 'configmap/payments', { failed: true })],
    expected: { status: 'incomplete', outcome: 'failed', findings: ['missing_field:failure.class'] },
  },
];

const jitRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('jit'),
  workflow: 'e2e-profiles-jit-db-access',
  kind: 'jit_access',
  result: 'success',
  triggerKind: 'api',
  actorId: 'system:serviceaccount:access:jit-broker',
  actorType: 'service_account',
  requesterId: 'alice@corp.example',
  grantExpiresAt: inAnHour(),
  ...over,
});
const jitAllow = () => decision('jit.prod-db', 'allow');
const grant = (options: Parameters<typeof change>[2] = {}) => change('grant', 'role/prod-db-reader:alice', options);

const jitScenarios: Scenario[] = [
  {
    title: 'judges an approved, expiring grant for a named requester compliant and complete',
    fields: jitRun(),
    steps: [jitAllow(), grant()],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    check: (run) => {
      expect(run.profiles).toEqual(['default', 'jit_access']);
      expect(run.requester_id).toBe('alice@corp.example');
    },
  },
  {
    title: 'flags a grant without requester.id',
    fields: jitRun({ requesterId: undefined }),
    steps: [jitAllow(), grant()],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:requester.id'] },
  },
  {
    title: 'flags a grant made without any decision as ungated_change (violation)',
    fields: jitRun(),
    steps: [grant()],
    expected: { status: 'violation', outcome: 'complete', findings: ['missing_decision:decision.result', 'ungated_change'] },
    check: (run, emitted) => {
      const ungated = run.findings!.find((f) => f.code === 'ungated_change');
      expect(ungated?.span_id).toBe(emitted.spanId('grant role/prod-db-reader:alice'));
      expect(ungated?.severity).toBe('critical');
      expect(ungated?.controls).toEqual(expect.arrayContaining(['NHI5', 'PR.AA-05']));
    },
  },
  {
    title: 'flags a grant made although the decision denied it as ungated_change and change_after_deny (violation)',
    fields: jitRun(),
    steps: [decision('jit.prod-db', 'deny'), grant()],
    expected: { status: 'violation', outcome: 'complete', findings: ['missing_decision:decision.result', 'ungated_change', 'change_after_deny'] },
  },
  {
    title: 'accepts a denied request that granted nothing as compliant with outcome failed',
    fields: jitRun({ result: 'denied', errorType: 'policy_denied', grantExpiresAt: undefined }),
    steps: [decision('jit.prod-db', 'deny')],
    expected: { status: 'compliant', outcome: 'failed', findings: [] },
  },
  {
    title: 'requires grant.expires_at once the grant succeeded',
    fields: jitRun({ grantExpiresAt: undefined }),
    steps: [jitAllow(), grant()],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:grant.expires_at'] },
  },
  {
    title: 'flags a grant.expires_at that is neither RFC 3339 nor unix nanoseconds as invalid_field',
    fields: jitRun({ grantExpiresAt: 'in one hour' }),
    steps: [jitAllow(), grant()],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['invalid_field:grant.expires_at'] },
  },
  {
    title: 'accepts grant.expires_at in unix nanoseconds',
    fields: jitRun({ grantExpiresAt: String(BigInt(Date.now() + 3_600_000) * 1_000_000n) }),
    steps: [jitAllow(), grant()],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'accepts grant.expires_at sent as an int64 attribute of unix nanoseconds',
    fields: jitRun({ grantExpiresAt: undefined }),
    root: { attributes: { 'nhi.grant.expires_at': (Date.now() + 3_600_000) * 1_000_000 } },
    steps: [jitAllow(), grant()],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'accepts a grant that timed out, declared failed with failure.class, as compliant with outcome failed',
    fields: jitRun({ result: 'failure', grantExpiresAt: undefined }),
    steps: [jitAllow(), grant({ errorType: 'connector_timeout' })],
    expected: { status: 'compliant', outcome: 'failed', findings: [] },
  },
  {
    title: 'flags a failed grant declared as success: partial_change and declared_result_mismatch',
    fields: jitRun({ grantExpiresAt: undefined }),
    steps: [jitAllow(), grant({ errorType: 'entitlement_mapping_missing' })],
    expected: {
      status: 'incomplete',
      outcome: 'failed',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
  },
  {
    title: 'flags an approved request that made a change other than a grant and no grant as partial',
    fields: jitRun(),
    steps: [jitAllow(), change('create', 'db-user/alice')],
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.message).toMatch(/required grant step is absent/);
      expect(partial?.span_id).toBeUndefined();
      expect(partial?.controls).toEqual(expect.arrayContaining(['NHI5', 'PR.AA-05']));
    },
  },
  {
    title: 'flags an approved request that recorded no grant: missing_change and outcome unknown',
    fields: jitRun({ grantExpiresAt: undefined }),
    steps: [jitAllow()],
    expected: {
      status: 'incomplete',
      outcome: 'unknown',
      findings: ['missing_change:change.operation'],
    },
  },
];

const rotationRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('rotation'),
  workflow: 'e2e-profiles-rotate-db-password',
  kind: 'secret_rotation',
  result: 'success',
  triggerKind: 'schedule',
  actorId: 'system:serviceaccount:secrets:rotator',
  actorType: 'service_account',
  ...over,
});
interface RotationSteps {
  readonly create?: StepSpec[];
  readonly distribute?: StepSpec[];
  readonly revoke?: StepSpec[];
  readonly verify?: StepSpec[];
}
const rotationSteps = (over: RotationSteps = {}): StepSpec[] => [
  decision('rotation.window', 'allow'),
  ...(over.create ?? [change('create', 'vault:kv/db/payments#v8')]),
  ...(over.distribute ?? [change('distribute', 'k8s:payments/db-credentials'), change('distribute', 'k8s:ledger/db-credentials')]),
  ...(over.verify ?? [change('verify', 'svc:payments-api')]),
  ...(over.revoke ?? [change('revoke', 'vault:kv/db/payments#v7')]),
];

const rotationScenarios: Scenario[] = [
  {
    title: 'judges a rotation that created, distributed, verified and revoked compliant and complete',
    fields: rotationRun(),
    steps: rotationSteps(),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'flags a rotation whose revoke failed as partial',
    fields: rotationRun(),
    steps: rotationSteps({ revoke: [change('revoke', 'vault:kv/db/payments#v7', { errorType: 'connector_timeout' })] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    readsSteps: true,
    check: (run, emitted) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.span_id).toBe(emitted.spanId('revoke vault:kv/db/payments#v7'));
      expect(partial?.message).toMatch(/revoke/);
      expect(partial?.controls).toEqual(expect.arrayContaining(['NHI7', 'PR.AA-01']));
      expect(run.steps?.find((s) => s.evidence['change.operation'] === 'revoke')).toMatchObject({ status: 'error', succeeded: false });
    },
  },
  {
    title: 'flags a rotation that never revoked the old version as partial',
    fields: rotationRun(),
    steps: rotationSteps({ revoke: [] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run) => {
      expect(run.findings!.find((f) => f.code === 'partial_change')?.message).toMatch(/revoke step is absent/);
    },
  },
  {
    title: 'flags a rotation whose new version did not reach one consumer as partial',
    fields: rotationRun({ result: 'failure' }),
    steps: rotationSteps({
      distribute: [
        change('distribute', 'k8s:payments/db-credentials'),
        change('distribute', 'k8s:ledger/db-credentials', { errorType: 'connector_timeout' }),
      ],
    }),
    expected: { status: 'incomplete', outcome: 'partial', findings: ['partial_change:change.operation'] },
  },
  {
    title: 'flags a rotation that never verified its dependents as partial',
    fields: rotationRun(),
    steps: rotationSteps({ verify: [] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
  },
  {
    title: 'flags a rotation that never created the new version as partial',
    fields: rotationRun(),
    steps: rotationSteps({ create: [] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.message).toMatch(/required create step is absent/);
      expect(partial?.span_id).toBeUndefined();
    },
  },
  {
    title: 'flags a rotation that never distributed the new version as partial',
    fields: rotationRun(),
    steps: rotationSteps({ distribute: [] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run) => {
      expect(run.findings!.find((f) => f.code === 'partial_change')?.message).toMatch(/required distribute step is absent/);
    },
  },
  {
    title: 'flags a rotation whose verify failed with span status ERROR only as partial',
    fields: rotationRun(),
    steps: rotationSteps({ verify: [change('verify', 'svc:payments-api', { failed: true })] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run, emitted) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.span_id).toBe(emitted.spanId('verify svc:payments-api'));
      expect(partial?.message).toMatch(/required verify of svc:payments-api failed/);
    },
  },
  {
    title: 'flags a rotation whose create failed while distribute, verify and revoke succeeded as partial',
    fields: rotationRun(),
    steps: rotationSteps({ create: [change('create', 'vault:kv/db/payments#v8', { errorType: 'connector_timeout' })] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run, emitted) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.span_id).toBe(emitted.spanId('create vault:kv/db/payments#v8'));
      expect(partial?.controls).toEqual(expect.arrayContaining(['NHI7', 'PR.AA-01']));
    },
  },
  {
    title: 'counts a revoke that succeeded and then failed on a later attempt by its last attempt: partial',
    fields: rotationRun(),
    steps: rotationSteps({
      revoke: [
        change('revoke', 'vault:kv/db/payments#v7', { name: 'revoke attempt 1' }),
        change('revoke', 'vault:kv/db/payments#v7', { errorType: 'connector_timeout', name: 'revoke attempt 2' }),
      ],
    }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run, emitted) => {
      expect(run.findings!.find((f) => f.code === 'partial_change')?.span_id).toBe(emitted.spanId('revoke attempt 2'));
    },
  },
  {
    title: 'counts a revoke that succeeded on retry as done',
    fields: rotationRun(),
    steps: rotationSteps({
      revoke: [
        change('revoke', 'vault:kv/db/payments#v7', { errorType: 'connector_timeout', name: 'revoke attempt 1' }),
        change('revoke', 'vault:kv/db/payments#v7', { name: 'revoke attempt 2' }),
      ],
    }),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'accepts a rotation that failed at create, declared failed with failure.class, with outcome failed',
    fields: rotationRun({ result: 'failure' }),
    steps: [decision('rotation.window', 'allow'), change('create', 'vault:kv/db/payments#v8', { errorType: 'connector_timeout' })],
    expected: { status: 'compliant', outcome: 'failed', findings: [] },
  },
];

const agentRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('agent'),
  workflow: 'e2e-profiles-ticket-triage',
  kind: 'agent_task',
  result: 'success',
  triggerKind: 'event',
  actorId: 'agent:ticket-triage',
  actorType: 'ai_agent',
  ...over,
});
const agentSteps = (...tools: StepSpec[]): StepSpec[] => [
  decision('agent.ticket-triage.tools', 'allow'),
  ...(tools.length > 0 ? tools : [toolCall('search_tickets'), toolCall('update_ticket')]),
];

const agentScenarios: Scenario[] = [
  {
    title: 'judges an ai_agent run whose tool calls succeeded compliant and complete (tool calls count as changes)',
    fields: agentRun(),
    steps: agentSteps(),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    readsSteps: true,
    check: (run) => {
      expect(run.actor?.type).toBe('ai_agent');
      expect(run.steps?.filter((s) => s.type === 'tool_call').map((s) => [s.evidence['tool.name'], s.succeeded])).toEqual([
        ['search_tickets', true],
        ['update_ticket', true],
      ]);
    },
  },
  {
    title: 'flags an agent run without actor.type',
    fields: agentRun({ actorType: undefined }),
    steps: agentSteps(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:actor.type'] },
  },
  {
    title: 'flags an agent run whose actor is not an ai_agent as invalid_field',
    fields: agentRun({ actorType: 'service_account' }),
    steps: agentSteps(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['invalid_field:actor.type'] },
  },
  {
    title: 'flags a tool call without gen_ai.tool.name',
    fields: agentRun(),
    steps: agentSteps(toolCall(undefined)),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:tool.name'] },
  },
  {
    title: 'judges an agent run with one failed tool call beside successful ones as partial',
    fields: agentRun(),
    steps: agentSteps(toolCall('search_tickets'), toolCall('update_ticket', { errorType: 'tool_error' })),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
  },
  {
    title: 'counts a tool call retried after a failure by its last attempt',
    fields: agentRun(),
    steps: agentSteps(toolCall('update_ticket', { errorType: 'tool_error' }), toolCall('update_ticket')),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'flags an agent run that made no tool call and no change as missing_change',
    fields: agentRun(),
    steps: [decision('agent.ticket-triage.tools', 'allow')],
    expected: {
      status: 'incomplete',
      outcome: 'unknown',
      findings: ['missing_change:change.operation'],
    },
  },
];

const reviewRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('review'),
  workflow: 'e2e-profiles-quarterly-sa-review',
  kind: 'access_review',
  result: 'success',
  triggerKind: 'schedule',
  actorId: 'system:serviceaccount:iam:access-reviewer',
  actorType: 'service_account',
  ...over,
});

const reviewScenarios: Scenario[] = [
  {
    title: 'judges a review that revoked stale access compliant and complete',
    fields: reviewRun(),
    steps: [decision('review.stale-access', 'allow'), change('revoke', 'iam:legacy-ci/roles/admin')],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    check: (run) => expect(run.profiles).toEqual(['default', 'access_review']),
  },
  {
    title: 'judges a review whose only change is a verify complete: access_review requires no particular operation',
    fields: reviewRun(),
    steps: [decision('review.stale-access', 'allow'), change('verify', 'iam:legacy-ci/roles')],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'judges a review declared successful that recorded no change as unknown: the default profile still requires one',
    fields: reviewRun(),
    steps: [decision('review.stale-access', 'allow')],
    expected: {
      status: 'incomplete',
      outcome: 'unknown',
      findings: ['missing_change:change.operation'],
    },
  },
  {
    title: 'accepts a failed review that names its failure.class as compliant with outcome failed',
    fields: reviewRun({ result: 'failure', errorType: 'entitlement_mapping_missing' }),
    steps: [decision('review.stale-access', 'allow')],
    expected: { status: 'compliant', outcome: 'failed', findings: [] },
  },
  {
    title: 'flags a failed review without failure.class',
    fields: reviewRun({ result: 'failure' }),
    steps: [decision('review.stale-access', 'allow')],
    expected: { status: 'incomplete', outcome: 'failed', findings: ['missing_field:failure.class'] },
  },
];

const deprovisionRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('deprov'),
  workflow: 'e2e-profiles-offboard-sa',
  kind: 'deprovisioning',
  result: 'success',
  triggerKind: 'event',
  actorId: 'system:serviceaccount:iam:deprovisioner',
  actorType: 'service_account',
  ...over,
});
interface DeprovisionSteps {
  readonly disable?: StepSpec[];
  readonly revoke?: StepSpec[];
  readonly verify?: StepSpec[];
}
const verify = (active: number | undefined, name?: string) =>
  change('verify', 'iam:sa/legacy-etl', {
    ...(name !== undefined ? { name } : {}),
    ...(active !== undefined ? { attributes: { 'nhi.credentials.active': active } } : {}),
  });
const deprovisionSteps = (over: DeprovisionSteps = {}): StepSpec[] => [
  decision('offboarding.approved', 'allow'),
  ...(over.disable ?? [change('disable', 'iam:sa/legacy-etl')]),
  ...(over.revoke ?? [change('revoke', 'iam:key/legacy-etl/1'), change('revoke', 'iam:key/legacy-etl/2')]),
  ...(over.verify ?? [verify(0)]),
];

const deprovisionScenarios: Scenario[] = [
  {
    title: 'judges a deprovisioning that disabled, revoked and verified zero active credentials compliant',
    fields: deprovisionRun(),
    steps: deprovisionSteps(),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'flags a deprovisioning whose final verify still reports active credentials as partial',
    fields: deprovisionRun(),
    steps: deprovisionSteps({ verify: [verify(1)] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run, emitted) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.span_id).toBe(emitted.spanId('verify iam:sa/legacy-etl'));
      expect(partial?.message).toMatch(/nhi\.credentials\.active/);
    },
  },
  {
    title: 'flags a deprovisioning whose verify does not report nhi.credentials.active as partial',
    fields: deprovisionRun(),
    steps: deprovisionSteps({ verify: [verify(undefined)] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
  },
  {
    title: 'judges by the last verify: active credentials first, zero after a retry is complete',
    fields: deprovisionRun(),
    steps: deprovisionSteps({ verify: [verify(1, 'verify before revoke propagated'), verify(0, 'verify again')] }),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
  },
  {
    title: 'flags a deprovisioning whose revoke of one credential failed as partial',
    fields: deprovisionRun({ result: 'failure' }),
    steps: deprovisionSteps({
      revoke: [change('revoke', 'iam:key/legacy-etl/1'), change('revoke', 'iam:key/legacy-etl/2', { errorType: 'connector_timeout' })],
    }),
    expected: { status: 'incomplete', outcome: 'partial', findings: ['partial_change:change.operation'] },
    check: (run, emitted) => {
      expect(run.findings!.find((f) => f.code === 'partial_change')?.span_id).toBe(emitted.spanId('revoke iam:key/legacy-etl/2'));
    },
  },
  {
    title: 'flags a deprovisioning that never disabled the account as partial',
    fields: deprovisionRun(),
    steps: deprovisionSteps({ disable: [] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
  },
  {
    title: 'flags a deprovisioning that revoked no credential as partial',
    fields: deprovisionRun(),
    steps: deprovisionSteps({ revoke: [] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.message).toMatch(/required revoke step is absent/);
      expect(partial?.controls).toEqual(expect.arrayContaining(['NHI1', 'PR.AA-01']));
    },
  },
  {
    title: 'flags a deprovisioning that never verified as partial',
    fields: deprovisionRun(),
    steps: deprovisionSteps({ verify: [] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run) => {
      expect(run.findings!.find((f) => f.code === 'partial_change')?.message).toMatch(/required verify step is absent/);
    },
  },
  {
    title: 'flags a deprovisioning whose disable failed as partial',
    fields: deprovisionRun(),
    steps: deprovisionSteps({ disable: [change('disable', 'iam:sa/legacy-etl', { errorType: 'connector_timeout' })] }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run, emitted) => {
      expect(run.findings!.find((f) => f.code === 'partial_change')?.span_id).toBe(emitted.spanId('disable iam:sa/legacy-etl'));
    },
  },
  {
    title: 'flags a deprovisioning whose verify failed (span status ERROR) as partial although it reports zero active credentials',
    fields: deprovisionRun(),
    steps: deprovisionSteps({
      verify: [change('verify', 'iam:sa/legacy-etl', { failed: true, attributes: { 'nhi.credentials.active': 0 } })],
    }),
    expected: {
      status: 'incomplete',
      outcome: 'partial',
      findings: ['partial_change:change.operation', 'declared_result_mismatch:run.result'],
    },
    check: (run, emitted) => {
      const partial = run.findings!.find((f) => f.code === 'partial_change');
      expect(partial?.span_id).toBe(emitted.spanId('verify iam:sa/legacy-etl'));
      expect(partial?.message).toMatch(/required verify of iam:sa\/legacy-etl failed/);
    },
  },
];

const groups: Array<[string, Scenario[]]> = [
  ['default profile (every run)', defaultScenarios],
  ['jit_access', jitScenarios],
  ['secret_rotation', rotationScenarios],
  ['agent_task', agentScenarios],
  ['access_review', reviewScenarios],
  ['deprovisioning', deprovisionScenarios],
];

describe('evidence profiles, end to end', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;
  const emitted = new Map<Scenario, EmittedRun>();
  const judged = new Map<string, RunView>();
  const shown = new Map<string, RunView>();

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: 200 } } });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-profiles' });
    for (const [, scenarios] of groups) {
      for (const s of scenarios) emitted.set(s, emitRun(sender.tracer, workflowRoot(s.fields, s.steps, s.root ?? {})));
    }
    await sender.flush();
    const runIds = [...emitted.keys()].map((s) => s.fields.runId!);
    await waitForRuns(runledger.dbPath, runIds);
    for (const run of await listRuns(runledger.configPath, { limit: 1000 })) judged.set(run.run_id, run);
    // Each `runs show` is a Node start: read only the runs whose steps are checked, a few at a time, up front.
    const toShow = [...emitted.keys()].filter((s) => s.readsSteps === true).map((s) => s.fields.runId!);
    for (let i = 0; i < toShow.length; i += 4) {
      const views = await Promise.all(toShow.slice(i, i + 4).map((id) => showRun(runledger.configPath, id)));
      for (const view of views) if (view !== undefined) shown.set(view.run_id, view);
    }
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  for (const [group, scenarios] of groups) {
    describe(group, () => {
      for (const scenario of scenarios) {
        // A contradiction of DESIGN §5 is reported; the test states the design and is expected to fail.
        const test = scenario.contradictsDesign !== undefined ? it.fails : it;
        test(scenario.title, () => {
          const runId = scenario.fields.runId!;
          const listed = judged.get(runId);
          expect(listed, `run ${runId} in runs list`).toBeDefined();
          const verdict = { status: listed!.status, outcome: listed!.outcome, findings: findingsOf(listed!) };
          expect(verdict).toEqual({ ...scenario.expected, findings: [...scenario.expected.findings].sort() });
          expect(listed!.kind ?? null).toBe(scenario.fields.kind ?? null);
          if (scenario.check !== undefined) {
            const view = scenario.readsSteps === true ? shown.get(runId) : listed;
            expect(view?.revision).toBe(1);
            scenario.check(view!, emitted.get(scenario)!);
          }
        });
      }
    });
  }
});
