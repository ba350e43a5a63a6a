import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { findingsOf, showRun, waitForRun, waitForRuns, type RunView } from '../support/runs-cli.js';
import {
  change,
  contextFromTraceparent,
  decision,
  emitRun,
  newRunId,
  StepClock,
  traceparentOf,
  type EmittedRun,
  type StepSpec,
} from '../support/workflows.js';

/**
 * Traces shaped the way real tools emit them — OpenTelemetry semantic conventions first, `nhi.*` only
 * where an operator or a runledger-aware controller would add it — and what runledger decides for them.
 * Verdicts that seem wrong for such input are asserted as they are today and listed in the report;
 * the comments say which.
 */

// --- A CI pipeline (CI/CD semantic conventions; the CI exporter puts the pipeline on the resource). ---

interface Pipeline {
  readonly runId: string;
  readonly sender: OtelSender;
  readonly emitted: EmittedRun;
}

function ciTask(name: string, type: string, result: 'success' | 'failure', extra: Partial<StepSpec> = {}): StepSpec {
  return {
    name: `RUN ${name}`,
    attributes: {
      'cicd.pipeline.task.name': name,
      'cicd.pipeline.task.type': type,
      'cicd.pipeline.task.run.id': String(randomInt(1_000_000, 9_999_999)),
      'cicd.pipeline.task.run.result': result,
      ...(result === 'failure' ? { 'error.type': 'failure' } : {}),
    },
    ...(result === 'failure' ? { status: 'error' as const } : {}),
    ...extra,
  };
}

function emitPipeline(grpcUrl: string, result: 'success' | 'failure', senders: OtelSender[]): Pipeline {
  const runId = String(randomInt(1_000_000_000, 9_999_999_999));
  const sender = createOtelSender(grpcUrl, {
    'service.name': 'github-actions',
    'cicd.pipeline.name': 'deploy-payments',
    'cicd.pipeline.run.id': runId,
    'cicd.worker.name': 'ubuntu-24.04-runner-7',
    'vcs.repository.url.full': 'https://github.com/example/payments',
    'vcs.ref.head.name': 'main',
  });
  senders.push(sender);
  const tasks =
    result === 'success'
      ? [ciTask('build', 'build', 'success'), ciTask('test', 'test', 'success'), ciTask('deploy-prod', 'deploy', 'success')]
      : [ciTask('build', 'build', 'success'), ciTask('test', 'test', 'failure')];
  const emitted = emitRun(sender.tracer, {
    name: 'RUN deploy-payments',
    kind: SpanKind.SERVER,
    attributes: {
      'cicd.pipeline.action.name': 'RUN',
      'cicd.pipeline.result': result,
      'cicd.pipeline.run.url.full': `https://github.com/example/payments/actions/runs/${runId}`,
      ...(result === 'failure' ? { 'error.type': 'failure' } : {}),
    },
    ...(result === 'failure' ? { status: 'error' as const } : {}),
    children: tasks,
  });
  return { runId, sender, emitted };
}

// --- An agent framework trace (GenAI semantic conventions: invoke_agent, chat, execute_tool). ---

const chat = (finishReason: string): StepSpec => ({
  name: 'chat gpt-4o',
  kind: SpanKind.CLIENT,
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.response.model': 'gpt-4o-2024-08-06',
    'gen_ai.usage.input_tokens': 812,
    'gen_ai.usage.output_tokens': 64,
    'gen_ai.response.finish_reasons': [finishReason],
  },
});
const tool = (name: string, failure?: string): StepSpec => ({
  name: `execute_tool ${name}`,
  attributes: {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': name,
    'gen_ai.tool.type': 'function',
    'gen_ai.tool.call.id': `call_${newRunId(name).slice(-8)}`,
    ...(failure !== undefined ? { 'error.type': failure } : {}),
  },
  ...(failure !== undefined ? { status: 'error' as const } : {}),
});
/** The agent looks an order up (first with a wrong id, which fails), then issues a refund. */
const agentTurns = (): StepSpec[] => [
  chat('tool_calls'),
  tool('lookup_order', 'OrderNotFoundError'),
  chat('tool_calls'),
  tool('lookup_order'),
  chat('tool_calls'),
  tool('issue_refund'),
  chat('stop'),
];
const invokeAgent = (conversation: string): StepSpec => ({
  name: 'invoke_agent RefundAgent',
  attributes: {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.provider.name': 'openai',
    'gen_ai.agent.id': 'asst_5j66UpCpwteGg4YSxUnt7lPY',
    'gen_ai.agent.name': 'RefundAgent',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.conversation.id': conversation,
  },
  children: agentTurns(),
});

// --- A rotation controller consuming a CloudEvent (messaging + CloudEvents conventions). ---

const ROTATION_TOPIC = 'secret-rotation-requests';
const cloudEvent = (id: string) => ({
  'cloudevents.event_id': id,
  'cloudevents.event_source': '//scheduler.platform.example/rotations',
  'cloudevents.event_spec_version': '1.0',
  'cloudevents.event_type': 'com.example.secret.rotation.requested',
  'cloudevents.event_subject': 'db/payments',
});

function rotationConsumer(runId: string, eventId: string): StepSpec {
  return {
    name: `process ${ROTATION_TOPIC}`,
    kind: SpanKind.CONSUMER,
    attributes: {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': ROTATION_TOPIC,
      'messaging.consumer.group.name': 'rotation-controller',
      'messaging.message.id': newRunId('msg'),
      ...cloudEvent(eventId),
      'nhi.workflow.run.id': runId,
      'nhi.workflow.name': 'rotate-db-credentials',
      'nhi.workflow.kind': 'secret_rotation',
      'nhi.workflow.result': 'success',
      'nhi.trigger.kind': 'event',
      'nhi.actor.id': 'system:serviceaccount:secrets:rotation-controller',
      'nhi.actor.type': 'service_account',
      'nhi.actor.authn': 'oidc',
    },
    children: [
      decision('rotation.window.db', 'allow', { name: 'POST /v1/data/rotation/allow', attributes: { 'http.request.method': 'POST' } }),
      { ...change('create', 'vault:database/creds/payments#v42', { name: 'PUT /v1/database/rotate-role/payments' }), kind: SpanKind.CLIENT },
      { ...change('distribute', 'k8s:payments/db-credentials', { name: 'PATCH secrets/db-credentials' }), kind: SpanKind.CLIENT },
      { ...change('distribute', 'k8s:payments-batch/db-credentials', { name: 'PATCH secrets/db-credentials batch' }), kind: SpanKind.CLIENT },
      { ...change('verify', 'postgres:payments', { name: 'SELECT 1 as payments_app' }), kind: SpanKind.CLIENT },
      { ...change('revoke', 'vault:database/creds/payments#v41', { name: 'PUT /v1/sys/leases/revoke' }), kind: SpanKind.CLIENT },
    ],
  };
}

describe.concurrent('realistic traces', () => {
  let runledger: RunledgerProcess;
  const senders: OtelSender[] = [];
  const sender = (resource: Record<string, string>): OtelSender => {
    const s = createOtelSender(runledger.grpcUrl, resource);
    senders.push(s);
    return s;
  };

  beforeAll(async () => {
    runledger = await startRunledger({
      config: {
        runs: { settle_ms: 200 },
        // The documented way to make a GenAI-only agent trace a run: its invoke_agent span starts one.
        filter: { include: [{ attribute: 'gen_ai.operation.name', equals: 'invoke_agent' }] },
      },
    });
  });

  afterAll(async () => {
    await Promise.all(senders.map((s) => s.shutdown()));
    await runledger?.stop();
  });

  it('keys a CI pipeline by cicd.pipeline.run.id and judges it as NHI evidence: no actor, decision or change', async () => {
    const ok = emitPipeline(runledger.grpcUrl, 'success', senders);
    const failed = emitPipeline(runledger.grpcUrl, 'failure', senders);
    await Promise.all([ok.sender.flush(), failed.sender.flush()]);
    await waitForRuns(runledger.dbPath, [ok.runId, failed.runId]);
    const [okRun, failedRun] = (await Promise.all([showRun(runledger.configPath, ok.runId), showRun(runledger.configPath, failed.runId)])) as RunView[];

    expect(okRun).toMatchObject({
      run_id: ok.runId,
      workflow: 'deploy-payments',
      declared_result: 'success',
      root_span_id: ok.emitted.rootSpanId,
      status: 'incomplete',
      span_count: 4,
    });
    // CI semconv carries no NHI actor, trigger kind, policy decision or change: runledger says so, and
    // a run the default profile expects to change something that recorded no change has outcome
    // unknown: the evidence cannot say how it ended, and it owes no failure class.
    expect(okRun.outcome).toBe('unknown');
    expect(findingsOf(okRun)).toEqual([
      'missing_change:change.operation',
      'missing_decision:decision.policy',
      'missing_field:actor.id',
      'missing_field:trigger.kind',
    ]);
    // Its tasks are recognised (cicd.pipeline.task.*) and succeeded by their task run result.
    expect(okRun.steps?.map((s) => [s.type, s.succeeded])).toEqual([
      ['other', undefined],
      ['task', true],
      ['task', true],
      ['task', true],
    ]);

    // A failed pipeline (cicd.pipeline.result failure, error.type, status ERROR) failed before acting.
    expect(failedRun).toMatchObject({ declared_result: 'failure', outcome: 'failed', status: 'incomplete' });
    expect(findingsOf(failedRun)).toEqual(['missing_decision:decision.policy', 'missing_field:actor.id', 'missing_field:trigger.kind']);
    expect(failedRun.evidence?.['failure.class']).toBe('failure');
    expect(failedRun.steps?.find((s) => s.name === 'RUN test')).toMatchObject({ status: 'error', type: 'task', succeeded: false });
  });

  it('makes a GenAI-only agent trace an agent_task run of its agent (evidence.agent_runs), gen_ai.agent.id its actor', async () => {
    const agent = sender({ 'service.name': 'refund-agent', 'telemetry.sdk.language': 'python' });
    const emitted = emitRun(agent.tracer, invokeAgent(newRunId('conv')));
    await agent.flush();
    const run = await waitForRun(runledger, emitted.traceId);
    expect(run).toMatchObject({ run_id: emitted.traceId, kind: 'agent_task', workflow: 'RefundAgent', span_count: 8 });
    expect(run.profiles).toEqual(['default', 'agent_task']);
    expect(run.actor).toMatchObject({ id: 'asst_5j66UpCpwteGg4YSxUnt7lPY', type: 'ai_agent' });
    expect(run.steps?.map((s) => s.type)).toEqual(['agent', 'other', 'tool_call', 'other', 'tool_call', 'other', 'tool_call', 'other']);
    // lookup_order failed once and succeeded on the next call: the last call of a tool counts.
    expect(run.outcome).toBe('complete');
    // GenAI conventions carry no declared result, trigger kind or policy decision: never compliant by itself.
    expect(findingsOf(run)).toEqual(['missing_decision:decision.policy', 'missing_field:run.result', 'missing_field:trigger.kind']);
    expect(run.status).toBe('incomplete');
  });

  // Regression: the filter started the run at the span an include rule matched, but the evaluator's
  // findRoot() only knew the identity keys, found no root and added root_span_missing to every such run.
  it('roots a run started by a filter.include rule at the span the rule matched', async () => {
    const agent = sender({ 'service.name': 'refund-agent' });
    const emitted = emitRun(agent.tracer, invokeAgent(newRunId('conv')));
    await agent.flush();
    const run = await waitForRun(runledger, emitted.traceId);
    expect(run.revisions?.map((r) => r.reason)).toEqual(['settled']);
    expect(run.root_span_id).toBe(emitted.rootSpanId);
    expect(findingsOf(run)).not.toContain('root_span_missing');
  });

  it('judges an agent as agent_task when the operator adds nhi.* resource attributes', async () => {
    // What OTEL_RESOURCE_ATTRIBUTES on the agent's deployment would add; the spans stay GenAI-only.
    const agent = sender({
      'service.name': 'refund-agent',
      'nhi.workflow.name': 'refund-agent',
      'nhi.workflow.kind': 'agent_task',
      'nhi.trigger.kind': 'api',
      'nhi.actor.type': 'ai_agent',
    });
    const emitted = emitRun(agent.tracer, invokeAgent(newRunId('conv')));
    await agent.flush();
    const run = await waitForRun(runledger, emitted.traceId);
    expect(run).toMatchObject({ kind: 'agent_task', workflow: 'refund-agent', outcome: 'complete', status: 'incomplete' });
    expect(run.profiles).toEqual(['default', 'agent_task']);
    expect(run.actor).toMatchObject({ id: 'asst_5j66UpCpwteGg4YSxUnt7lPY', type: 'ai_agent' });
    expect(findingsOf(run)).toEqual(['missing_decision:decision.policy', 'missing_field:run.result']);
    const toolSteps = run.steps?.filter((s) => s.type === 'tool_call');
    expect(toolSteps?.map((s) => [s.evidence['tool.name'], s.succeeded])).toEqual([
      ['lookup_order', false],
      ['lookup_order', true],
      ['issue_refund', true],
    ]);
  });

  it('roots a rotation at a CONSUMER span that continues the producer trace, and flags a redelivered event as a replay', async () => {
    const scheduler = sender({ 'service.name': 'rotation-scheduler' });
    const controller = sender({ 'service.name': 'secret-rotation-controller', 'k8s.namespace.name': 'secrets', 'k8s.pod.name': 'rotation-controller-7d9f' });
    const clock = new StepClock();
    const eventId = newRunId('evt');
    // The scheduler publishes the CloudEvent; its trace context travels in the event (ce traceparent).
    const published = emitRun(
      scheduler.tracer,
      {
        name: `send ${ROTATION_TOPIC}`,
        kind: SpanKind.PRODUCER,
        attributes: { 'messaging.system': 'kafka', 'messaging.operation.type': 'send', 'messaging.destination.name': ROTATION_TOPIC, ...cloudEvent(eventId) },
      },
      { clock },
    );
    const traceparent = traceparentOf(published.rootContext);
    await scheduler.flush(); // the producer's span reaches runledger first, before any run names its trace

    const runId = newRunId('rotation');
    const consumed = emitRun(controller.tracer, rotationConsumer(runId, eventId), { clock, parent: contextFromTraceparent(traceparent) });
    await controller.flush();
    const run = await waitForRun(runledger, runId);
    expect(run).toMatchObject({
      status: 'compliant',
      outcome: 'complete',
      kind: 'secret_rotation',
      root_span_id: consumed.rootSpanId,
      trigger: { kind: 'event', event: `//scheduler.platform.example/rotations|${eventId}` },
      actor: { id: 'system:serviceaccount:secrets:rotation-controller', type: 'service_account', authn: 'oidc' },
    });
    expect(findingsOf(run)).toEqual([]);
    // The producer's span joined the run as context, with its service.
    expect(run.steps?.[0]).toMatchObject({ name: `send ${ROTATION_TOPIC}`, service: 'rotation-scheduler', type: 'other' });
    expect(run.steps?.[1]).toMatchObject({ span_id: consumed.rootSpanId, parent_span_id: published.rootSpanId });

    // At-least-once delivery: the broker redelivers the same event (same id, same trace context) and
    // the controller runs a second rotation under a new run id.
    const redeliveredRunId = newRunId('rotation');
    const redelivered = emitRun(controller.tracer, rotationConsumer(redeliveredRunId, eventId), { clock, parent: contextFromTraceparent(traceparent) });
    await controller.flush();
    const replay = await waitForRun(runledger, redeliveredRunId);
    expect(replay.status).toBe('violation');
    expect(findingsOf(replay)).toEqual(['replayed_trigger:trigger.event_id']);
    expect(replay.root_span_id).toBe(redelivered.rootSpanId);
    // Both runs share one trace: the second run's spans are its own, the first run is left alone.
    expect(replay.span_count).toBe(7);
    const first = await showRun(runledger.configPath, runId);
    expect(first).toMatchObject({ revision: 1, span_count: 8 });
  });
});

// --- A Temporal workflow (the Go SDK's OpenTelemetry tracing interceptor). ---

/**
 * The interceptor's shape: the client's StartWorkflow span starts the trace and ends once the
 * workflow is started; the worker's RunWorkflow span carries temporalWorkflowID and temporalRunID; each
 * activity is a StartActivity span with one RunActivity span per attempt. A failed attempt has status
 * ERROR and an `exception` event, never error.type. The operator's worker deployment adds nhi.*
 * resource attributes, and the activities add their change or decision to their own span.
 */
function temporalActivity(name: string, attempts: ReadonlyArray<{ attributes: Record<string, string>; failure?: string }>): StepSpec {
  return {
    name: `StartActivity:${name}`,
    attributes: { temporalActivityID: String(randomInt(1, 1000)) },
    children: attempts.map(({ attributes, failure }, i) => ({
      name: `RunActivity:${name}`,
      attributes: { ...attributes, 'temporal.activity.attempt': String(i + 1) },
      ...(failure !== undefined ? { status: 'error' as const, statusMessage: failure, exception: { type: 'ApplicationError', message: failure } } : {}),
    })),
  };
}

const TEMPORAL_WORKER = {
  'service.name': 'rotation-worker',
  'nhi.workflow.name': 'rotate-db-password',
  'nhi.workflow.kind': 'secret_rotation',
  'nhi.trigger.kind': 'schedule',
  'nhi.actor.id': 'system:serviceaccount:secrets:rotation-worker',
  'nhi.actor.type': 'service_account',
};

describe.concurrent('a Temporal workflow, its run id read from temporalRunID', () => {
  let runledger: RunledgerProcess;
  const senders: OtelSender[] = [];

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: 200 }, evidence: { fields: { 'run.id': { add_keys: ['temporalRunID'] } } } } });
  });

  afterAll(async () => {
    await Promise.all(senders.map((s) => s.shutdown()));
    await runledger?.stop();
  });

  const runWorkflow = async (activities: readonly StepSpec[], failure?: string): Promise<{ run: RunView; worker: EmittedRun }> => {
    const client = createOtelSender(runledger.grpcUrl, { 'service.name': 'rotation-scheduler' });
    const worker = createOtelSender(runledger.grpcUrl, TEMPORAL_WORKER);
    senders.push(client, worker);
    const clock = new StepClock();
    const workflowId = newRunId('rotate-db-password');
    const runId = crypto.randomUUID();
    const started = emitRun(client.tracer, { name: 'StartWorkflow:RotateDbPassword', attributes: { temporalWorkflowID: workflowId } }, { clock });
    await client.flush();
    const emitted = emitRun(
      worker.tracer,
      {
        name: 'RunWorkflow:RotateDbPassword',
        attributes: { temporalWorkflowID: workflowId, temporalRunID: runId },
        children: activities,
        ...(failure !== undefined ? { status: 'error' as const, statusMessage: failure, exception: { type: 'ActivityError', message: failure } } : {}),
      },
      { clock, parent: contextFromTraceparent(traceparentOf(started.rootContext)) },
    );
    await worker.flush();
    return { run: await waitForRun(runledger, runId), worker: emitted };
  };

  it('judges a rotation whose policy check and create were retried: a failed attempt owes no decision, the last attempt counts', async () => {
    const { run, worker } = await runWorkflow([
      temporalActivity('CheckRotationPolicy', [
        { attributes: { 'nhi.policy.id': 'rotation.window.db' }, failure: 'opa: context deadline exceeded' },
        { attributes: { 'nhi.policy.id': 'rotation.window.db', 'nhi.policy.decision': 'allow' } },
      ]),
      temporalActivity('CreateCredential', [
        { attributes: { 'nhi.change.operation': 'create', 'nhi.change.target': 'vault:database/creds/payments#v43' }, failure: 'vault: 503' },
        { attributes: { 'nhi.change.operation': 'create', 'nhi.change.target': 'vault:database/creds/payments#v43' } },
      ]),
      temporalActivity('DistributeCredential', [{ attributes: { 'nhi.change.operation': 'distribute', 'nhi.change.target': 'k8s:payments/db-credentials' } }]),
      temporalActivity('VerifyCredential', [{ attributes: { 'nhi.change.operation': 'verify', 'nhi.change.target': 'postgres:payments' } }]),
      temporalActivity('RevokeCredential', [{ attributes: { 'nhi.change.operation': 'revoke', 'nhi.change.target': 'vault:database/creds/payments#v42' } }]),
    ]);
    expect(run).toMatchObject({ kind: 'secret_rotation', workflow: 'rotate-db-password', outcome: 'complete', root_span_id: worker.rootSpanId });
    // Only what Temporal cannot say is missing: the workflow declares no result (its span status stays UNSET).
    expect(findingsOf(run)).toEqual(['missing_field:run.result']);
    expect(run.status).toBe('incomplete');
    // The client's StartWorkflow span joined the run through the trace: 1 + RunWorkflow + 5 activities, 7 attempts.
    expect(run.span_count).toBe(14);
    expect(run.steps?.[0]?.name).toBe('StartWorkflow:RotateDbPassword');
  });

  it('waits for RunWorkflow when the activities name the run and the client span that started the trace ended at once', async () => {
    // The interceptor tags activity spans with the workflow's ids too, so the run exists from its first
    // activity; its trace root (StartWorkflow) ended long before. A grace period between distributing
    // the new credential and revoking the old one is longer than settle_ms.
    const client = createOtelSender(runledger.grpcUrl, { 'service.name': 'rotation-scheduler' });
    const worker = createOtelSender(runledger.grpcUrl, TEMPORAL_WORKER);
    senders.push(client, worker);
    const clock = new StepClock();
    const ids = { temporalWorkflowID: newRunId('rotate-db-password'), temporalRunID: crypto.randomUUID() };
    const started = emitRun(client.tracer, { name: 'StartWorkflow:RotateDbPassword', attributes: { temporalWorkflowID: ids.temporalWorkflowID } }, { clock });
    await client.flush();
    const activity = (name: string, operation: string, target: string): StepSpec => {
      const spec = temporalActivity(name, [{ attributes: { ...ids, 'nhi.change.operation': operation, 'nhi.change.target': target } }]);
      return { ...spec, attributes: { ...spec.attributes, ...ids } };
    };
    const before = [
      temporalActivity('CheckRotationPolicy', [{ attributes: { ...ids, 'nhi.policy.id': 'rotation.window.db', 'nhi.policy.decision': 'allow' } }]),
      activity('CreateCredential', 'create', 'vault:database/creds/payments#v44'),
      activity('DistributeCredential', 'distribute', 'k8s:payments/db-credentials'),
    ];
    const workflow = emitRun(worker.tracer, { name: 'RunWorkflow:RotateDbPassword', attributes: ids, children: before }, {
      clock,
      parent: contextFromTraceparent(traceparentOf(started.rootContext)),
      deferRootEnd: true,
    });
    await worker.flush();
    await sleep(1000); // five settle windows: the grace period
    expect(await showRun(runledger.configPath, ids.temporalRunID)).toMatchObject({ state: 'open', revision: 0 });

    emitRun(worker.tracer, activity('VerifyCredential', 'verify', 'postgres:payments'), { clock, parent: workflow.rootContext });
    emitRun(worker.tracer, activity('RevokeCredential', 'revoke', 'vault:database/creds/payments#v43'), { clock, parent: workflow.rootContext });
    workflow.endRoot();
    await worker.flush();
    const run = await waitForRun(runledger, ids.temporalRunID);
    expect(run.revisions?.map((r) => r.reason)).toEqual(['settled']);
    expect(run).toMatchObject({ outcome: 'complete', root_span_id: workflow.rootSpanId, span_count: 12 });
    expect(findingsOf(run)).toEqual(['missing_field:run.result']);
  });

  it('reads the failure class of a failed workflow from the exception its span recorded', async () => {
    const { run } = await runWorkflow(
      [
        temporalActivity('CheckRotationPolicy', [{ attributes: { 'nhi.policy.id': 'rotation.window.db', 'nhi.policy.decision': 'allow' } }]),
        temporalActivity('CreateCredential', [{ attributes: { 'nhi.change.operation': 'create', 'nhi.change.target': 'vault:database/creds/payments#v43' } }]),
        temporalActivity('DistributeCredential', [{ attributes: { 'nhi.change.operation': 'distribute', 'nhi.change.target': 'k8s:payments/db-credentials' } }]),
        temporalActivity('VerifyCredential', [{ attributes: { 'nhi.change.operation': 'verify', 'nhi.change.target': 'postgres:payments' } }]),
        temporalActivity(
          'RevokeCredential',
          [1, 2, 3].map(() => ({ attributes: { 'nhi.change.operation': 'revoke', 'nhi.change.target': 'vault:database/creds/payments#v42' }, failure: 'vault: permission denied' })),
        ),
      ],
      'activity error: RevokeCredential',
    );
    expect(run).toMatchObject({ declared_result: 'error', outcome: 'partial', status: 'incomplete' });
    expect(run.evidence?.['failure.class']).toBe('ActivityError');
    expect(findingsOf(run)).toEqual(['partial_change:change.operation']);
  });
});
