import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { Attributes } from '../otlp/attributes.js';
import { parseConfig } from '../config/load.js';
import { RunIdentity, runIdentityFromConfig } from '../runs/run-identity.js';
import { runSpan } from '../../test/support/run-spans.js';
import { resolveFieldKeys, runIdentityKeys } from './fields.js';
import { BUILT_IN_RECOGNISERS, Recognisers, resolveRecognisers, type SpanRole } from './recognisers.js';
import { EvidenceReader, SpanEvidence, stepType, toStep } from './steps.js';

const builtIn = new Recognisers();
const reader = new EvidenceReader(resolveFieldKeys({}));

/** Spans as each library emits them (attribute names from its source; see README "Recognition"). */
const SHAPES: ReadonlyArray<{ name: string; span: string; attributes: Attributes; role: SpanRole; found?: Record<string, string> }> = [
  {
    name: 'gen_ai.tool_call',
    span: 'execute_tool lookup_order',
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup_order', 'gen_ai.tool.call.id': 'call_1', 'gen_ai.tool.call.arguments': '{"id":7}' },
    role: 'tool_call',
    found: { name: 'lookup_order', id: 'call_1' },
  },
  {
    name: 'gen_ai.agent',
    span: 'invoke_agent gpt-4o',
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'support-triage' },
    role: 'agent',
    found: { name: 'support-triage' },
  },
  { name: 'mastra.task', span: 'workflow_step fetch-order', attributes: { 'mastra.span.type': 'workflow_step', 'gen_ai.operation.name': 'workflow_step' }, role: 'task' },
  { name: 'gen_ai.workflow', span: 'invoke_workflow triage', attributes: { 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.workflow.name': 'triage' }, role: 'workflow' },
  {
    name: 'ai_sdk.tool_call',
    span: 'ai.toolCall',
    attributes: { 'ai.operationId': 'ai.toolCall', 'ai.toolCall.name': 'weather', 'ai.toolCall.id': 'tc_1', 'ai.telemetry.functionId': 'support-triage' },
    role: 'tool_call',
    found: { name: 'weather', id: 'tc_1', agent: 'support-triage' },
  },
  { name: 'ai_sdk.agent', span: 'ai.streamText', attributes: { 'ai.operationId': 'ai.streamText', 'ai.telemetry.functionId': 'support-triage' }, role: 'agent' },
  { name: 'openinference.tool_call', span: 'lookup_order', attributes: { 'openinference.span.kind': 'TOOL', 'tool.name': 'lookup_order' }, role: 'tool_call' },
  { name: 'openinference.agent', span: 'agent', attributes: { 'openinference.span.kind': 'AGENT', 'agent.name': 'planner' }, role: 'agent' },
  { name: 'openinference.workflow', span: 'RunnableSequence', attributes: { 'openinference.span.kind': 'CHAIN' }, role: 'workflow' },
  { name: 'traceloop.tool_call', span: 'search.tool', attributes: { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'search' }, role: 'tool_call' },
  { name: 'traceloop.agent', span: 'planner.agent', attributes: { 'traceloop.span.kind': 'agent', 'traceloop.entity.name': 'planner' }, role: 'agent' },
  { name: 'traceloop.workflow', span: 'triage.workflow', attributes: { 'traceloop.span.kind': 'workflow', 'traceloop.workflow.name': 'triage' }, role: 'workflow' },
  { name: 'traceloop.task', span: 'summarise.task', attributes: { 'traceloop.span.kind': 'task', 'traceloop.entity.name': 'summarise' }, role: 'task' },
  {
    name: 'cicd.task',
    span: 'RUN test',
    // A task span carries its pipeline's attributes too: the task is the more specific reading.
    attributes: { 'cicd.pipeline.name': 'deploy', 'cicd.pipeline.task.name': 'test', 'cicd.pipeline.task.run.id': '42', 'cicd.pipeline.task.run.result': 'failure' },
    role: 'task',
    found: { name: 'test', id: '42', result: 'failure' },
  },
  { name: 'cicd.pipeline', span: 'RUN deploy', attributes: { 'cicd.pipeline.name': 'deploy', 'cicd.pipeline.run.id': '7' }, role: 'workflow' },
  { name: 'temporal.activity', span: 'RunActivity:CreateCredential', attributes: { temporalActivityID: '3' }, role: 'task' },
  { name: 'temporal.workflow', span: 'RunWorkflow:RotateDbPassword', attributes: { temporalRunID: 'r-1', temporalWorkflowID: 'w-1' }, role: 'workflow' },
];

describe('built-in recognisers', () => {
  it.each(SHAPES)('tell $name spans', ({ name, span, attributes, role, found }) => {
    const recognition = builtIn.recognise({ name: span, attributes });
    expect(recognition?.recogniser.name).toBe(name);
    expect(recognition?.role).toBe(role);
    if (found !== undefined) expect(recognition).toMatchObject(found);
  });

  it('has one example above for every built-in recogniser', () => {
    expect(SHAPES.map((s) => s.name).sort()).toEqual(BUILT_IN_RECOGNISERS.map((r) => r.name).sort());
  });

  it('leaves spans of no framework alone, and does not take a model call that proposes tools for a tool call', () => {
    expect(builtIn.recognise({ name: 'GET /orders', attributes: { 'http.request.method': 'GET' } })).toBeUndefined();
    // OpenInference flattens the tool calls an LLM proposed under a prefix; only TOOL spans execute one.
    const llm = { 'openinference.span.kind': 'LLM', 'llm.output_messages.0.message.tool_calls.0.tool_call.function.name': 'delete_repo' };
    expect(builtIn.recognise({ name: 'ChatOpenAI', attributes: llm })).toBeUndefined();
    expect(reader.evidenceOf(runSpan('ChatOpenAI', llm)).isToolCall()).toBe(false);
    // The AI SDK's model calls (doGenerate) are neither agents nor tools.
    expect(builtIn.recognise({ name: 'ai.generateText.doGenerate', attributes: { 'ai.operationId': 'ai.generateText.doGenerate' } })).toBeUndefined();
  });
});

describe('evidence through recognisers', () => {
  it('reads an AI SDK tool call as a tool call of the agent named by its functionId', () => {
    const span = runSpan('ai.toolCall', { 'ai.operationId': 'ai.toolCall', 'ai.toolCall.name': 'weather', 'ai.toolCall.id': 'tc_1', 'ai.telemetry.functionId': 'support-triage' });
    const evidence = reader.evidenceOf(span);
    expect(evidence.isToolCall()).toBe(true);
    expect(evidence.read('tool.name')).toBe('weather');
    expect(evidence.ownText('actor.id')).toBe('support-triage');
    expect(toStep(evidence)).toMatchObject({ type: 'tool_call', succeeded: true, evidence: { 'tool.name': 'weather', 'tool.call_id': 'tc_1', 'actor.id': 'support-triage' } });
  });

  it('lets the configured keys win over what a recogniser found', () => {
    const span = runSpan('ai.toolCall', {
      'ai.operationId': 'ai.toolCall',
      'ai.toolCall.name': 'weather',
      'ai.telemetry.functionId': 'support-triage',
      'nhi.actor.id': 'agent:support-triage-v3',
    });
    expect(reader.evidenceOf(span).ownText('actor.id')).toBe('agent:support-triage-v3');
  });

  it('knows an agent by its id, else by its name', () => {
    const both = reader.evidenceOf(runSpan('invoke_agent', { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'asst_1', 'gen_ai.agent.name': 'Refunds' }));
    const named = reader.evidenceOf(runSpan('ai.generateText', { 'ai.operationId': 'ai.generateText', 'ai.telemetry.functionId': 'support-triage' }));
    expect([both.ownText('actor.id'), named.ownText('actor.id')]).toEqual(['asst_1', 'support-triage']);
    expect(stepType(named)).toBe('agent');
  });

  it('fails a CI/CD task by its result, and types pipeline spans as tasks', () => {
    const failed = reader.evidenceOf(runSpan('RUN test', { 'cicd.pipeline.task.name': 'test', 'cicd.pipeline.task.run.result': 'timeout' }));
    const passed = reader.evidenceOf(runSpan('RUN build', { 'cicd.pipeline.task.name': 'build', 'cicd.pipeline.task.run.result': 'success' }));
    expect([toStep(failed), toStep(passed)].map((s) => [s.type, s.succeeded])).toEqual([
      ['task', false],
      ['task', true],
    ]);
  });

  it('makes a run rooted at an agent span that agent’s agent_task, unless its spans say otherwise', () => {
    const root = reader.evidenceOf(runSpan('ai.generateText', { 'ai.operationId': 'ai.generateText', 'ai.telemetry.functionId': 'support-triage' }));
    expect(SpanEvidence.runEvidence(root, [root])).toMatchObject({
      'run.kind': 'agent_task',
      'run.workflow': 'support-triage',
      'actor.id': 'support-triage',
      'actor.type': 'ai_agent',
    });
    const declared = reader.evidenceOf(
      runSpan('ai.generateText', { 'ai.operationId': 'ai.generateText', 'ai.telemetry.functionId': 'x', 'nhi.workflow.kind': 'access_review', 'nhi.workflow.name': 'review' }),
    );
    expect(SpanEvidence.runEvidence(declared, [declared])).toMatchObject({ 'run.kind': 'access_review', 'run.workflow': 'review' });
    // An agent nested under a workflow's root does not make the run an agent task.
    const workflowRoot = reader.evidenceOf(runSpan('rotate', { 'nhi.workflow.name': 'rotate' }));
    expect(SpanEvidence.runEvidence(workflowRoot, [workflowRoot, root])['run.kind']).toBeUndefined();
  });
});

describe('agent runs', () => {
  const keys = resolveFieldKeys({});
  const agentSpan = { name: 'ai.generateText', parentSpanId: 'abc', attributes: { 'ai.operationId': 'ai.generateText', 'ai.telemetry.functionId': 'support-triage' } };

  it('make an agent span carry the run identity only when switched on', () => {
    const on = new RunIdentity(keys['run.id'], runIdentityKeys(keys), [], builtIn);
    const off = new RunIdentity(keys['run.id'], runIdentityKeys(keys));
    expect([on.carries(agentSpan, {}), off.carries(agentSpan, {})]).toEqual([true, false]);
    // Intake decodes only the keys routing reads: the recognisers' match keys must be among them.
    expect(on.attributeKeys).toEqual(expect.arrayContaining(['ai.operationId', 'gen_ai.operation.name', 'openinference.span.kind', 'traceloop.span.kind']));
  });

  it('are on by default and off with evidence.agent_runs: false', () => {
    expect(runIdentityFromConfig(parseConfig({})).carries(agentSpan, {})).toBe(true);
    expect(runIdentityFromConfig(parseConfig({ evidence: { agent_runs: false } })).carries(agentSpan, {})).toBe(false);
  });

  it('start at the recognisers the config defines', () => {
    const config = parseConfig({
      evidence: { recognisers: { replace: [{ name: 'acme.agent', when: { attribute: 'acme.kind', equals: ['agent'] }, role: 'agent', name_keys: ['acme.agent'] }] } },
    });
    const identity = runIdentityFromConfig(config);
    expect(identity.carries({ name: 'x', parentSpanId: '', attributes: { 'acme.kind': 'agent' } }, {})).toBe(true);
    expect(identity.carries(agentSpan, {})).toBe(false);
  });
});

describe('evidence.recognisers config', () => {
  const mine = { name: 'acme.tool_call', when: { attribute: 'acme.kind', equals: ['tool'] }, role: 'tool_call', name_keys: ['acme.tool'] } as const;

  it('looks at added recognisers first, and replaces the table when told', () => {
    const added = resolveRecognisers(parseConfig({ evidence: { recognisers: { add: [mine] } } }).evidence.recognisers);
    expect(added.map((r) => r.name)).toEqual(['acme.tool_call', ...BUILT_IN_RECOGNISERS.map((r) => r.name)]);
    const replaced = resolveRecognisers(parseConfig({ evidence: { recognisers: { replace: [mine] } } }).evidence.recognisers);
    expect(replaced.map((r) => r.name)).toEqual(['acme.tool_call']);

    const acme = new EvidenceReader(resolveFieldKeys({}), new Recognisers(added));
    const evidence = acme.evidenceOf(runSpan('call', { 'acme.kind': 'tool', 'acme.tool': 'wipe_disk' }));
    expect([evidence.isToolCall(), evidence.read('tool.name')]).toEqual([true, 'wipe_disk']);
  });

  it('refuses a malformed recogniser with the YAML path of each problem', () => {
    let problems: readonly string[] = [];
    try {
      parseConfig({
        evidence: {
          recognisers: {
            add: [
              { name: 'a', when: { equals: ['x'] }, role: 'tool_call' },
              { name: 'b', when: { attribute: 'k' }, role: 'robot' },
              { name: 'c', when: { attribute: 'k' }, role: 'agent', agent_keys: ['x'] },
            ],
          },
        },
      });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^evidence\.recognisers\.add\.0\.when: when needs attribute or span_name_prefix/),
        expect.stringMatching(/^evidence\.recognisers\.add\.1\.role: /),
        expect.stringMatching(/^evidence\.recognisers\.add\.2\.agent_keys: agent_keys is for role tool_call/),
      ]),
    );
  });
});
