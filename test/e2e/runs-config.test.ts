import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { findingsOf, showRun, waitForRun, type RunView } from '../support/runs-cli.js';
import {
  change,
  decision,
  emitRun,
  newRunId,
  workflowRoot,
  type EmittedRun,
  type RunFields,
  type StepSpec,
} from '../support/workflows.js';

/**
 * README "Evidence" and "Profiles", DESIGN §5: what `evidence.fields` and `evidence.profiles` in the
 * config change about how a run is assembled and judged. Runs are emitted with the OpenTelemetry SDK
 * over OTLP/gRPC to a real `serve` process and read back with `runs show`. Field keys change what every
 * run is read by, so each config gets its own process; every test uses its own run ids.
 */

const SETTLE_MS = 200;

interface Verdict {
  readonly status: 'compliant' | 'incomplete' | 'violation';
  readonly outcome: 'complete' | 'partial' | 'failed' | 'unknown';
  /** `code` or `code:field`, in any order. */
  readonly findings: readonly string[];
}

/** The verdict of a run in the compact form the tests compare: it changes whenever status, outcome or a finding does. */
const verdictOf = (run: RunView): Verdict => ({ status: run.status!, outcome: run.outcome!, findings: findingsOf(run) });
const sorted = (v: Verdict): Verdict => ({ ...v, findings: [...v.findings].sort() });

const findingOf = (run: RunView, code: string) => {
  const found = run.findings?.find((f) => f.code === code);
  expect(found, `finding ${code} of run ${run.run_id}`).toBeDefined();
  return found!;
};

/** Attributes without the keys a test left undefined (the SDK would drop them anyway; this says so). */
const defined = (attributes: Record<string, AttributeValue | undefined>): Attributes =>
  Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined)) as Attributes;

describe.concurrent('evidence.fields from config', () => {
  // acme's workflow engine reports its own keys. run.id and run.workflow are replaced: the default keys
  // no longer count. run.kind and actor.id are extended: acme's key is looked up first, the defaults still count.
  const ACME_FIELDS = {
    'run.id': { keys: ['acme.run.id'] },
    'run.workflow': { keys: ['acme.workflow'] },
    'run.kind': { add_keys: ['acme.kind'] },
    'actor.id': { add_keys: ['acme.actor'] },
  };
  const WORKFLOW = 'e2e-config-acme-key-cleanup';

  let runledger: RunledgerProcess;
  const senders: OtelSender[] = [];
  const sender = (resource: Attributes = {}): OtelSender => {
    const s = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-config-acme-engine', ...resource });
    senders.push(s);
    return s;
  };
  let engine: OtelSender;

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: SETTLE_MS }, evidence: { fields: ACME_FIELDS } } });
    engine = sender();
  });

  afterAll(async () => {
    await Promise.all(senders.map((s) => s.shutdown()));
    await runledger?.stop();
  });

  /**
   * A default-profile run as acme's engine reports it: every default requirement met, identity under
   * acme's keys. `attributes` adds root attributes; an undefined value leaves acme's key out.
   */
  const acmeRoot = (runId: string | undefined, attributes: Record<string, AttributeValue | undefined> = {}): StepSpec =>
    workflowRoot(
      { result: 'success', triggerKind: 'schedule', actorType: 'service_account' },
      [decision('key-hygiene', 'allow'), change('revoke', 'iam:key/etl/1')],
      {
        name: 'acme key cleanup',
        attributes: defined({ 'acme.run.id': runId, 'acme.workflow': WORKFLOW, 'acme.actor': 'acme:svc/key-cleaner', ...attributes }),
      },
    );

  const judge = async (via: OtelSender, root: StepSpec, runKey: (emitted: EmittedRun) => string) => {
    const emitted = emitRun(via.tracer, root);
    await via.flush();
    const run = await waitForRun(runledger, runKey(emitted));
    return { run, emitted };
  };

  const COMPLIANT: Verdict = { status: 'compliant', outcome: 'complete', findings: [] };

  it('assembles a run by the configured run id key and reads its workflow from the configured key', async () => {
    const runId = newRunId('acme');
    const { run, emitted } = await judge(engine, acmeRoot(runId), () => runId);
    expect(verdictOf(run)).toEqual(COMPLIANT);
    // The children carry no identity: they joined through their trace, so all three spans are one run.
    expect(run).toMatchObject({ run_id: runId, workflow: WORKFLOW, span_count: 3, root_span_id: emitted.rootSpanId });
    expect(run.evidence).toMatchObject({ 'run.id': runId, 'run.workflow': WORKFLOW, 'actor.id': 'acme:svc/key-cleaner' });
  });

  it('ignores the default run id key once keys replaced it: the run is keyed by its trace id', async () => {
    const runId = newRunId('acme-default-key');
    // acme.workflow still names a run; nhi.workflow.run.id is just another attribute now.
    const { run, emitted } = await judge(engine, acmeRoot(undefined, { 'nhi.workflow.run.id': runId }), (e) => e.traceId);
    expect(verdictOf(run)).toEqual(COMPLIANT);
    expect(run.run_id).toBe(emitted.traceId);
    expect(run.evidence?.['run.id']).toBeUndefined();
    expect(await showRun(runledger.configPath, runId)).toBeUndefined();
  });

  it('ignores every default workflow key once keys replaced it', async () => {
    const runId = newRunId('acme-no-workflow');
    const root = acmeRoot(runId, {
      'acme.workflow': undefined,
      'cicd.pipeline.name': WORKFLOW,
      'gen_ai.workflow.name': WORKFLOW,
      'nhi.workflow.name': WORKFLOW,
    });
    const { run } = await judge(engine, root, () => runId);
    expect(verdictOf(run)).toEqual({ status: 'incomplete', outcome: 'complete', findings: ['missing_field:run.workflow'] });
    expect(run.workflow).toBeNull();
    expect(findingOf(run, 'missing_field').message).toBe('run.workflow is missing (looked for acme.workflow)');
  });

  it('selects the profile by the added run.kind key', async () => {
    const runId = newRunId('acme-kind');
    const { run } = await judge(engine, acmeRoot(runId, { 'acme.kind': 'access_review' }), () => runId);
    expect(verdictOf(run)).toEqual(COMPLIANT);
    expect(run).toMatchObject({ kind: 'access_review', profiles: ['default', 'access_review'] });
  });

  it('still selects the profile by the default run.kind key when add_keys extended it', async () => {
    const runId = newRunId('acme-default-kind');
    const { run } = await judge(engine, acmeRoot(runId, { 'nhi.workflow.kind': 'access_review' }), () => runId);
    expect(verdictOf(run)).toEqual(COMPLIANT);
    expect(run).toMatchObject({ kind: 'access_review', profiles: ['default', 'access_review'] });
  });

  it('looks the added run.kind key up before the default one', async () => {
    const runId = newRunId('acme-both-kinds');
    // Judged as jit_access this run would lack requester.id and a grant: the verdict shows which key won.
    const { run } = await judge(engine, acmeRoot(runId, { 'acme.kind': 'access_review', 'nhi.workflow.kind': 'jit_access' }), () => runId);
    expect(verdictOf(run)).toEqual(COMPLIANT);
    expect(run).toMatchObject({ kind: 'access_review', profiles: ['default', 'access_review'] });
  });

  it('still reads actor.id from the default keys when add_keys extended it', async () => {
    const runId = newRunId('acme-default-actor');
    // gen_ai.agent.id is the second default key: the whole default list is kept, not only its head.
    const { run } = await judge(engine, acmeRoot(runId, { 'acme.actor': undefined, 'gen_ai.agent.id': 'agent:key-cleaner' }), () => runId);
    expect(verdictOf(run)).toEqual(COMPLIANT);
    expect(run.actor?.id).toBe('agent:key-cleaner');
  });

  it('prefers the added actor.id key over a default key on the same span', async () => {
    const runId = newRunId('acme-both-actors');
    const { run } = await judge(engine, acmeRoot(runId, { 'nhi.actor.id': 'system:serviceaccount:ops:other' }), () => runId);
    expect(verdictOf(run)).toEqual(COMPLIANT);
    expect(run.actor?.id).toBe('acme:svc/key-cleaner');
  });

  it('names the keys it looked for, added ones first, when actor.id is missing', async () => {
    const runId = newRunId('acme-no-actor');
    const { run } = await judge(engine, acmeRoot(runId, { 'acme.actor': undefined }), () => runId);
    expect(verdictOf(run)).toEqual({ status: 'incomplete', outcome: 'complete', findings: ['missing_field:actor.id'] });
    expect(findingOf(run, 'missing_field').message).toBe('actor.id is missing (looked for acme.actor, nhi.actor.id, gen_ai.agent.id)');
  });

  describe('read from the resource', () => {
    // A service that runs one kind of workflow as one identity says so once, on its resource.
    let reviewer: OtelSender;
    beforeAll(() => {
      reviewer = sender({ 'acme.actor': 'acme:svc/reviewer', 'acme.kind': 'access_review' });
    });

    it('reads actor.id and run.kind from the resource when the spans do not carry them', async () => {
      const runId = newRunId('acme-resource');
      const { run } = await judge(reviewer, acmeRoot(runId, { 'acme.actor': undefined }), () => runId);
      expect(verdictOf(run)).toEqual(COMPLIANT);
      expect(run).toMatchObject({ kind: 'access_review', profiles: ['default', 'access_review'], actor: { id: 'acme:svc/reviewer' } });
    });

    it('reads the span before the resource, even a key listed later', async () => {
      const runId = newRunId('acme-span-first');
      // acme.actor (on the resource) is listed before nhi.actor.id (on the span): span first wins all the same.
      const { run } = await judge(reviewer, acmeRoot(runId, { 'acme.actor': undefined, 'nhi.actor.id': 'acme:svc/on-span' }), () => runId);
      expect(verdictOf(run)).toEqual(COMPLIANT);
      expect(run.actor?.id).toBe('acme:svc/on-span');
    });

    it('assembles a run by a run id carried on the resource', async () => {
      const runId = newRunId('acme-resource-run');
      // A batch job started for one run puts its run id on the resource of every span it exports.
      const job = sender({ 'acme.run.id': runId });
      const { run, emitted } = await judge(job, acmeRoot(undefined), () => runId);
      expect(verdictOf(run)).toEqual(COMPLIANT);
      expect(run).toMatchObject({ run_id: runId, span_count: 3, root_span_id: emitted.rootSpanId });
      expect(run.evidence?.['run.id']).toBe(runId);
    });
  });
});

// A profile added in config: purging a retired service account's credentials. Each requirement below
// has at least one run that falls short of it, and only of it.
const CREDENTIAL_PURGE = {
  required_fields: ['requester.id', 'actor.authn'],
  field_values: { 'actor.authn': ['mtls', 'oidc'] },
  required_changes: [
    { operation: 'revoke', message: 'every credential must be revoked' },
    // Telling the owner is required, but a bounced mail must not hold the purge back.
    { operation: 'notify', must_succeed: false },
    {
      operation: 'verify',
      expect: 'attributes["nhi.credentials.active"] == 0',
      message: 'the final verify must find no active credential',
    },
  ],
  constraints: [
    { expression: 'attributes["nhi.credentials.active"] == 0', message: 'the run must report no active credentials', severity: 'error' },
    { expression: '!steps.exists(s, s.operation == "delete")', message: 'a purge revokes credentials, it never deletes the identity', severity: 'critical' },
    { expression: 'run["trigger.kind"] == "manual"', message: 'purges are started by hand', severity: 'info' },
  ],
  controls: ['NHI7'],
};

// jit_access overridden: this organisation approves JIT access by ticket (no policy decision span), sets
// no expiry, and revokes within the same run. The override replaces the built-in, it is not merged into it.
const JIT_ACCESS_OVERRIDE = {
  required_fields: ['actor.authn'],
  required_changes: [{ operation: 'grant' }, { operation: 'revoke', message: 'access must be revoked in the same run' }],
  controls: ['NHI3'],
};

interface Scenario {
  readonly title: string;
  readonly fields: RunFields;
  readonly rootAttributes?: Attributes;
  readonly steps: readonly StepSpec[];
  readonly expected: Verdict;
  readonly profiles: readonly string[];
  readonly check?: (run: RunView, emitted: EmittedRun) => void;
}

const purgeRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('purge'),
  workflow: 'e2e-config-purge-legacy-etl',
  kind: 'credential_purge',
  result: 'success',
  triggerKind: 'manual',
  actorId: 'system:serviceaccount:iam:purger',
  actorType: 'service_account',
  actorAuthn: 'mtls',
  requesterId: 'bob@corp.example',
  ...over,
});
const verify = (active: number | undefined) =>
  change('verify', 'iam:sa/legacy-etl', active === undefined ? {} : { attributes: { 'nhi.credentials.active': active } });
interface PurgeSteps {
  readonly revoke?: StepSpec[];
  readonly notify?: StepSpec[];
  readonly verify?: StepSpec[];
  readonly extra?: StepSpec[];
}
const purgeSteps = (over: PurgeSteps = {}): StepSpec[] => [
  decision('purge.approved', 'allow'),
  ...(over.revoke ?? [change('revoke', 'iam:key/legacy-etl/1'), change('revoke', 'iam:key/legacy-etl/2')]),
  ...(over.notify ?? [change('notify', 'mailto:etl-owner@corp.example')]),
  ...(over.extra ?? []),
  ...(over.verify ?? [verify(0)]),
];
/** The root's own summary of what is left, which the first constraint reads. */
const rootActive = (active: number) => ({ 'nhi.credentials.active': active });
const PURGE_PROFILES = ['default', 'credential_purge'];
const PARTIAL = ['partial_change:change.operation', 'declared_result_mismatch:run.result'];

const purgeScenarios: Scenario[] = [
  {
    title: 'judges a purge that meets every requirement compliant and complete',
    fields: purgeRun(),
    rootAttributes: rootActive(0),
    steps: purgeSteps(),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    profiles: PURGE_PROFILES,
  },
  {
    title: 'requires the profile\'s required_fields: requester.id',
    fields: purgeRun({ requesterId: undefined }),
    rootAttributes: rootActive(0),
    steps: purgeSteps(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:requester.id'] },
    profiles: PURGE_PROFILES,
  },
  {
    title: 'requires the profile\'s required_fields: actor.authn',
    fields: purgeRun({ actorAuthn: undefined }),
    rootAttributes: rootActive(0),
    steps: purgeSteps(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:actor.authn'] },
    profiles: PURGE_PROFILES,
  },
  {
    title: 'flags an actor.authn outside field_values as invalid_field',
    fields: purgeRun({ actorAuthn: 'claimed' }),
    rootAttributes: rootActive(0),
    steps: purgeSteps(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['invalid_field:actor.authn'] },
    profiles: PURGE_PROFILES,
    check: (run) => expect(findingOf(run, 'invalid_field').message).toBe('actor.authn is "claimed", expected mtls or oidc'),
  },
  {
    title: 'flags a purge whose revoke of one credential failed as partial (must_succeed by default)',
    fields: purgeRun(),
    rootAttributes: rootActive(0),
    steps: purgeSteps({ revoke: [change('revoke', 'iam:key/legacy-etl/1'), change('revoke', 'iam:key/legacy-etl/2', { errorType: 'connector_timeout' })] }),
    expected: { status: 'incomplete', outcome: 'partial', findings: PARTIAL },
    profiles: PURGE_PROFILES,
    check: (run, emitted) => {
      const partial = findingOf(run, 'partial_change');
      expect(partial).toMatchObject({
        severity: 'error',
        span_id: emitted.spanId('revoke iam:key/legacy-etl/2'),
        message: 'required revoke of iam:key/legacy-etl/2 failed: every credential must be revoked',
      });
      // The added profile's controls join the code's own.
      expect(partial.controls).toEqual(['PR.AA-01', 'PR.PS-04', 'NHI7']);
    },
  },
  {
    title: 'flags a purge that never revoked as partial, with the requirement\'s message',
    fields: purgeRun(),
    rootAttributes: rootActive(0),
    steps: purgeSteps({ revoke: [] }),
    expected: { status: 'incomplete', outcome: 'partial', findings: PARTIAL },
    profiles: PURGE_PROFILES,
    check: (run) => expect(findingOf(run, 'partial_change').message).toBe('required revoke step is absent: every credential must be revoked'),
  },
  {
    title: 'accepts a failed notify as done: must_succeed false',
    fields: purgeRun(),
    rootAttributes: rootActive(0),
    steps: purgeSteps({ notify: [change('notify', 'mailto:etl-owner@corp.example', { errorType: 'mailbox_unavailable' })] }),
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    profiles: PURGE_PROFILES,
    check: (run) => expect(run.steps?.find((s) => s.evidence['change.operation'] === 'notify')).toMatchObject({ status: 'error', succeeded: false }),
  },
  {
    title: 'still requires a notify step that need not succeed',
    fields: purgeRun(),
    rootAttributes: rootActive(0),
    steps: purgeSteps({ notify: [] }),
    expected: { status: 'incomplete', outcome: 'partial', findings: PARTIAL },
    profiles: PURGE_PROFILES,
    check: (run) => expect(findingOf(run, 'partial_change').message).toBe('required notify step is absent'),
  },
  {
    title: 'flags a verify whose attributes fail the expect expression as partial',
    fields: purgeRun(),
    // The root says nothing is left; only the verify span's own attributes count for `expect`.
    rootAttributes: rootActive(0),
    steps: purgeSteps({ verify: [verify(1)] }),
    expected: { status: 'incomplete', outcome: 'partial', findings: PARTIAL },
    profiles: PURGE_PROFILES,
    check: (run, emitted) =>
      expect(findingOf(run, 'partial_change')).toMatchObject({
        span_id: emitted.spanId('verify iam:sa/legacy-etl'),
        message: 'verify does not show the change took: the final verify must find no active credential',
      }),
  },
  {
    title: 'flags a verify that does not report the attribute expect reads as partial',
    fields: purgeRun(),
    rootAttributes: rootActive(0),
    steps: purgeSteps({ verify: [verify(undefined)] }),
    expected: { status: 'incomplete', outcome: 'partial', findings: PARTIAL },
    profiles: PURGE_PROFILES,
  },
  {
    title: 'flags a root attribute that fails a constraint as constraint_failed with the configured severity (error)',
    fields: purgeRun(),
    // The verify span reports 0: only the root's attributes count for constraints.
    rootAttributes: rootActive(2),
    steps: purgeSteps(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['constraint_failed'] },
    profiles: PURGE_PROFILES,
    check: (run) =>
      expect(findingOf(run, 'constraint_failed')).toEqual({
        code: 'constraint_failed',
        severity: 'error',
        rule: 'constraints',
        profile: 'credential_purge',
        message: 'the run must report no active credentials',
        controls: ['PR.PS-04', 'NHI7'],
      }),
  },
  {
    title: 'counts a constraint that cannot be evaluated (the root lacks the attribute) as failed, saying why',
    fields: purgeRun(),
    steps: purgeSteps(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['constraint_failed'] },
    profiles: PURGE_PROFILES,
    check: (run) => expect(findingOf(run, 'constraint_failed').message).toMatch(/^the run must report no active credentials \(.*nhi\.credentials\.active.*\)$/),
  },
  {
    // constraint_failed is an evidence finding: even at severity critical it makes the run incomplete, not a violation.
    title: 'flags a step that fails a constraint over steps (critical) as constraint_failed',
    fields: purgeRun(),
    rootAttributes: rootActive(0),
    steps: purgeSteps({ extra: [change('delete', 'iam:sa/legacy-etl')] }),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['constraint_failed'] },
    profiles: PURGE_PROFILES,
    check: (run) =>
      expect(findingOf(run, 'constraint_failed')).toMatchObject({
        severity: 'critical',
        message: 'a purge revokes credentials, it never deletes the identity',
      }),
  },
  {
    title: 'reports a failed constraint over run of severity info without making the run incomplete',
    fields: purgeRun({ triggerKind: 'api' }),
    rootAttributes: rootActive(0),
    steps: purgeSteps(),
    expected: { status: 'compliant', outcome: 'complete', findings: ['constraint_failed'] },
    profiles: PURGE_PROFILES,
    check: (run) => expect(findingOf(run, 'constraint_failed')).toMatchObject({ severity: 'info', message: 'purges are started by hand' }),
  },
];

const jitRun = (over: RunFields = {}): RunFields => ({
  runId: newRunId('jit-override'),
  workflow: 'e2e-config-jit-db-access',
  kind: 'jit_access',
  result: 'success',
  triggerKind: 'api',
  actorId: 'system:serviceaccount:access:jit-broker',
  actorType: 'service_account',
  actorAuthn: 'oidc',
  ...over,
});
const grantAndRevoke = (): StepSpec[] => [change('grant', 'role/prod-db-reader:alice'), change('revoke', 'role/prod-db-reader:alice')];
const JIT_PROFILES = ['default', 'jit_access'];

const overrideScenarios: Scenario[] = [
  {
    // The built-in would flag missing_field:requester.id and missing_field:grant.expires_at.
    title: 'judges a run by the override alone: no requester.id and no grant.expires_at asked for',
    fields: jitRun(),
    steps: [decision('jit.prod-db', 'allow'), ...grantAndRevoke()],
    expected: { status: 'compliant', outcome: 'complete', findings: [] },
    profiles: JIT_PROFILES,
  },
  {
    // The built-in would find a violation (ungated_change) and missing_decision:decision.result (no allow);
    // only the default profile's "any decision" is left.
    title: 'no longer gates the grant on an allow decision',
    fields: jitRun(),
    steps: grantAndRevoke(),
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_decision:decision.policy'] },
    profiles: JIT_PROFILES,
  },
  {
    title: 'requires what the override adds: actor.authn',
    fields: jitRun({ actorAuthn: undefined }),
    steps: [decision('jit.prod-db', 'allow'), ...grantAndRevoke()],
    expected: { status: 'incomplete', outcome: 'complete', findings: ['missing_field:actor.authn'] },
    profiles: JIT_PROFILES,
  },
  {
    title: 'requires what the override adds: a revoke, with the override\'s controls only',
    fields: jitRun(),
    steps: [decision('jit.prod-db', 'allow'), change('grant', 'role/prod-db-reader:alice')],
    expected: { status: 'incomplete', outcome: 'partial', findings: PARTIAL },
    profiles: JIT_PROFILES,
    check: (run) =>
      expect(findingOf(run, 'partial_change')).toMatchObject({
        message: 'required revoke step is absent: access must be revoked in the same run',
        // Not the built-in's NHI5 / PR.AA-05.
        controls: ['PR.AA-01', 'PR.PS-04', 'NHI3'],
      }),
  },
  {
    title: 'leaves the built-ins that were not overridden as they are (secret_rotation without revoke is partial)',
    fields: jitRun({ kind: 'secret_rotation', workflow: 'e2e-config-rotate-db-password', runId: newRunId('rotation') }),
    steps: [
      decision('rotation.window', 'allow'),
      change('create', 'vault:kv/db#v8'),
      change('distribute', 'k8s:payments/db'),
      change('verify', 'svc:payments'),
    ],
    expected: { status: 'incomplete', outcome: 'partial', findings: PARTIAL },
    profiles: ['default', 'secret_rotation'],
    check: (run) => expect(findingOf(run, 'partial_change').controls).toEqual(['PR.AA-01', 'PR.PS-04', 'NHI7']),
  },
];

describe.concurrent('evidence.profiles from config', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;

  beforeAll(async () => {
    runledger = await startRunledger({
      config: {
        runs: { settle_ms: SETTLE_MS },
        evidence: { profiles: { credential_purge: CREDENTIAL_PURGE, jit_access: JIT_ACCESS_OVERRIDE } },
      },
    });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-config-profiles' });
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  const groups: Array<[string, Scenario[]]> = [
    ['a profile added in config (credential_purge)', purgeScenarios],
    ['a built-in overridden in config (jit_access)', overrideScenarios],
  ];
  for (const [group, scenarios] of groups) {
    describe(group, () => {
      for (const scenario of scenarios) {
        it(scenario.title, async () => {
          const runId = scenario.fields.runId!;
          const emitted = emitRun(sender.tracer, workflowRoot(scenario.fields, scenario.steps, { attributes: scenario.rootAttributes ?? {} }));
          await sender.flush();
          const run = await waitForRun(runledger, runId);
          expect(verdictOf(run)).toEqual(sorted(scenario.expected));
          expect(run).toMatchObject({ revision: 1, kind: scenario.fields.kind, profiles: scenario.profiles });
          scenario.check?.(run, emitted);
        });
      }
    });
  }
});
