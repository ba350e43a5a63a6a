import { describe, expect, it } from 'vitest';
import type { Attributes } from '../otlp/attributes.js';
import { evaluateRun, findRoot, parseInstant, type RunVerdict } from './evaluate.js';
import { FIELD_NAMES, resolveFieldKeys, runIdentityKeys } from './fields.js';
import { resolveProfiles } from './profiles.js';
import type { RunHistory, RunSpan } from './run-input.js';
import { EvidenceReader } from './steps.js';
import { RunIdentity } from '../runs/run-identity.js';

const keys = resolveFieldKeys({});
const noHistory: RunHistory = { runWithTrigger: () => undefined, runWithDecision: () => undefined, lastDefinition: () => undefined };
const TRACE = 'a'.repeat(32);

let nextId = 1;
function span(name: string, attributes: Attributes, options: { parent?: string; error?: boolean; id?: string; start?: bigint } = {}): RunSpan {
  const id = options.id ?? (nextId++).toString(16).padStart(16, '0');
  const start = options.start ?? 1_764_000_000_000_000_000n + BigInt(nextId) * 1000n;
  return {
    traceId: TRACE,
    spanId: id,
    parentSpanId: options.parent ?? '',
    name,
    kind: 1,
    startNs: start,
    endNs: start + 500n,
    statusCode: options.error ? 2 : 0,
    statusMessage: '',
    attributes: { ...attributes, ...(options.error ? { 'error.type': 'connector_timeout' } : {}) },
    events: [],
    links: [],
    resource: { 'service.name': 'svc' },
    scopeName: 'test',
    digest: '0'.repeat(64),
    redactions: [],
  };
}

const ROOT_ID = 'f'.repeat(16);
function run(kind: string | undefined, children: Array<[string, Attributes, { error?: boolean }?]>, rootExtra: Attributes = {}): RunSpan[] {
  const root = span(
    'workflow',
    {
      'nhi.workflow.run.id': 'run-1',
      'nhi.workflow.name': 'wf',
      'nhi.workflow.result': 'success',
      'nhi.trigger.kind': 'schedule',
      'nhi.actor.id': 'sa-1',
      ...(kind ? { 'nhi.workflow.kind': kind } : {}),
      ...rootExtra,
    },
    { id: ROOT_ID },
  );
  return [root, ...children.map(([name, attrs, opt]) => span(name, attrs, { parent: ROOT_ID, ...opt }))];
}

function judge(spans: RunSpan[], history: RunHistory = noHistory, runKey = 'run-1'): RunVerdict {
  return evaluateRun(
    { runKey, spans },
    { reader: new EvidenceReader(keys), profiles: resolveProfiles({}), identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)), history },
  );
}

const codes = (v: RunVerdict) => v.findings.map((f) => f.code).sort();
const allow = (id = 'd-1'): [string, Attributes] => ['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow', 'nhi.policy.decision_id': id }];
const change = (operation: string, target: string): [string, Attributes] => [operation, { 'nhi.change.operation': operation, 'nhi.change.target': target }];

describe('evaluateRun', () => {
  it('judges a run with every default field, a decision and a change compliant and complete', () => {
    const v = judge(run(undefined, [allow(), change('grant', 'role/x')]));
    expect(codes(v)).toEqual([]);
    expect(v.status).toBe('compliant');
    expect(v.outcome).toBe('complete');
  });

  it('names each missing default field', () => {
    const spans = [span('wf', { 'nhi.workflow.run.id': 'r' }), span('c', { 'nhi.change.operation': 'grant', 'nhi.change.target': 't' })];
    const v = judge(spans);
    const missing = v.findings.filter((f) => f.code === 'missing_field').map((f) => f.field).sort();
    expect(missing).toEqual(['actor.id', 'run.result', 'run.workflow', 'trigger.kind']);
    expect(codes(v)).toContain('missing_decision');
    expect(v.status).toBe('incomplete');
  });

  it('flags a rotation whose revoke failed as partial although it declared success', () => {
    const v = judge(
      run('secret_rotation', [allow(), change('create', 'v2'), change('distribute', 'app'), ['revoke', { 'nhi.change.operation': 'revoke', 'nhi.change.target': 'v1' }, { error: true }], change('verify', 'app')]),
    );
    expect(v.outcome).toBe('partial');
    expect(codes(v)).toEqual(['declared_result_mismatch', 'partial_change']);
    expect(v.findings.find((f) => f.code === 'partial_change')!.controls).toContain('NHI7');
  });

  it('treats a retried step that finally succeeded as success', () => {
    const v = judge(
      run('secret_rotation', [
        allow(),
        change('create', 'v2'),
        change('distribute', 'app'),
        ['revoke', { 'nhi.change.operation': 'revoke', 'nhi.change.target': 'v1' }, { error: true }],
        change('revoke', 'v1'),
        change('verify', 'app'),
      ]),
    );
    expect(v.outcome).toBe('complete');
    expect(v.status).toBe('compliant');
  });

  it('flags a deprovisioning whose verification still reports active credentials as partial', () => {
    const v = judge(
      run('deprovisioning', [allow(), change('disable', 'sa-9'), change('revoke', 'key-1'), ['verify', { 'nhi.change.operation': 'verify', 'nhi.change.target': 'sa-9', 'nhi.credentials.active': 2 }]]),
    );
    expect(v.outcome).toBe('partial');
    expect(v.findings.some((f) => f.code === 'partial_change' && f.message.includes('nhi.credentials.active'))).toBe(true);
  });

  it('accepts a deprovisioning whose verification reports zero active credentials', () => {
    const v = judge(
      run('deprovisioning', [allow(), change('disable', 'sa-9'), change('revoke', 'key-1'), ['verify', { 'nhi.change.operation': 'verify', 'nhi.change.target': 'sa-9', 'nhi.credentials.active': 0 }]]),
    );
    expect(v.outcome).toBe('complete');
    expect(v.status).toBe('compliant');
  });

  it('reports a JIT grant without an allow decision as a violation', () => {
    const v = judge(
      run('jit_access', [['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'deny' }], change('grant', 'role/admin')], {
        'nhi.requester.id': 'alice',
        'nhi.grant.expires_at': '2026-11-27T05:00:00Z',
      }),
    );
    expect(codes(v)).toContain('ungated_change');
    expect(v.status).toBe('violation');
  });

  it('accepts a denied JIT request that changed nothing and says why', () => {
    const v = judge(
      run('jit_access', [['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'deny' }]], {
        'nhi.requester.id': 'alice',
        'nhi.workflow.result': 'failure',
        'error.type': 'policy_denied',
      }),
    );
    expect(codes(v)).toEqual([]);
    expect(v.outcome).toBe('failed');
    expect(v.evidence['failure.class']).toBe('policy_denied');
  });

  it('tells a connector timeout from a policy denial by failure.class', () => {
    const v = judge(
      run('jit_access', [allow(), ['grant', { 'nhi.change.operation': 'grant', 'nhi.change.target': 'role/x' }, { error: true }]], {
        'nhi.requester.id': 'alice',
        'nhi.workflow.result': 'failure',
      }),
    );
    expect(v.outcome).toBe('failed');
    expect(v.evidence['failure.class']).toBe('connector_timeout');
    expect(codes(v)).toEqual([]);
  });

  it('requires grant.expires_at once a grant succeeded', () => {
    const v = judge(run('jit_access', [allow(), change('grant', 'role/x')], { 'nhi.requester.id': 'alice' }));
    expect(v.findings.find((f) => f.code === 'missing_field')?.field).toBe('grant.expires_at');
  });

  it('flags a trigger event already used by another run, but not a retry inside the run', () => {
    const history: RunHistory = { runWithTrigger: (key) => (key === 'src|evt-1' ? 'run-0' : undefined), runWithDecision: () => undefined, lastDefinition: () => undefined };
    const extra = { 'cloudevents.event_source': 'src', 'cloudevents.event_id': 'evt-1' };
    expect(codes(judge(run(undefined, [allow(), change('grant', 'x')], extra), history))).toEqual(['replayed_trigger']);
    expect(codes(judge(run(undefined, [allow(), allow(), change('grant', 'x')], extra)))).toEqual([]);
  });

  it('flags a decision id that authorised a different run', () => {
    const history: RunHistory = { runWithTrigger: () => undefined, runWithDecision: (id) => (id === "d-1" ? "run-0" : undefined), lastDefinition: () => undefined };
    const v = judge(run(undefined, [allow('d-1'), change('grant', 'x')]), history);
    expect(codes(v)).toEqual(['reused_approval']);
    expect(v.status).toBe('violation');
  });

  it('requires an ai_agent actor type for agent tasks and counts tool calls as changes', () => {
    const tool: [string, Attributes] = ['execute_tool search', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' }];
    const wrong = judge(run('agent_task', [allow(), tool], { 'nhi.actor.type': 'service_account' }));
    expect(wrong.findings.find((f) => f.code === 'invalid_field')?.field).toBe('actor.type');
    const right = judge(run('agent_task', [allow(), tool], { 'nhi.actor.type': 'ai_agent' }));
    expect(codes(right)).toEqual([]);
    expect(right.steps.find((s) => s.name === 'execute_tool search')?.type).toBe('tool_call');
  });

  it('evaluates custom CEL constraints from a profile', () => {
    const profiles = resolveProfiles({
      cert_renewal: profileOf({ constraints: [{ expression: 'int(attributes["cert.days_valid"]) <= 90', message: 'certificates live at most 90 days', severity: 'error' }] }),
    });
    const ctx = { reader: new EvidenceReader(keys), profiles, identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)), history: noHistory };
    const spans = run('cert_renewal', [allow(), change('create', 'cert')], { 'cert.days_valid': 365 });
    const v = evaluateRun({ runKey: 'run-1', spans }, ctx);
    expect(v.findings.find((f) => f.code === 'constraint_failed')?.message).toContain('90 days');
  });
});

describe('evidence fields', () => {
  const withResource = (s: RunSpan, resource: Attributes): RunSpan => ({ ...s, resource });

  it('reads a field from the resource the span lacks, but shows a step only what the span itself carries', () => {
    const resource = { 'service.name': 'svc', 'nhi.actor.id': 'sa-from-resource', 'nhi.change.target': 'resource-wide' };
    const [root, ...children] = run(undefined, [allow(), ['grant', { 'nhi.change.operation': 'grant' }]]);
    const spans = [withResource({ ...root!, attributes: { ...root!.attributes, 'nhi.actor.id': '' } }, resource), ...children.map((c) => withResource(c, resource))];
    const v = judge(spans);
    expect(v.evidence['actor.id']).toBe('sa-from-resource');
    expect(v.findings.some((f) => f.field === 'change.target')).toBe(false);
    const grant = v.steps.find((s) => s.name === 'grant')!;
    expect(grant.evidence).toEqual({ 'change.operation': 'grant' });
  });

  it('takes the first listed key that holds non-empty text, whatever order the attributes come in', () => {
    // run.workflow keys: cicd.pipeline.name, gen_ai.workflow.name, nhi.workflow.name.
    const v = judge(run(undefined, [allow(), change('grant', 'x')], { 'gen_ai.workflow.name': 'second', 'cicd.pipeline.name': '' }));
    expect(v.evidence['run.workflow']).toBe('second');
    const reversed = judge(run(undefined, [allow(), change('grant', 'x')], { 'gen_ai.workflow.name': 'second', 'cicd.pipeline.name': 'first' }));
    expect(reversed.evidence['run.workflow']).toBe('first');
    const list = judge(run(undefined, [allow(), change('grant', 'x')], { 'cicd.pipeline.name': ['a', 'b'], 'nhi.trigger.kind': 7 }));
    expect(list.evidence['run.workflow']).toBe('wf');
    expect(list.evidence['trigger.kind']).toBe('7');
  });

  it('reads every field as EvidenceReader.read does, each resource with its own reader keys', () => {
    const custom = resolveFieldKeys({ 'actor.id': { add_keys: ['custom.actor'] }, 'run.workflow': { keys: ['gen_ai.workflow.name'] } });
    const resource: Attributes = { 'service.name': 'svc', 'custom.actor': 'from-resource', 'cicd.pipeline.name': 'resource-wf', 'error.type': '' };
    const spans = [
      withResource(span('a', { 'nhi.actor.id': 'sa-1', 'custom.actor': 'custom', 'gen_ai.workflow.name': 'wf' }), resource),
      withResource(span('b', { 'nhi.policy.id': 'p', 'security_rule.name': 'rule', 'nhi.policy.decision': true, 'error.type': { nested: 'x' } }), resource),
      withResource(span('c', {}), resource),
    ];
    for (const fieldKeys of [keys, custom]) {
      const reader = new EvidenceReader(fieldKeys);
      for (const s of spans) {
        const read = reader.evidenceOf(s);
        for (const field of FIELD_NAMES) expect(read.read(field), `${field} of ${s.name}`).toBe(reader.read(field, s));
      }
    }
  });

  it('names the profiles each run was judged against', () => {
    const profiles = resolveProfiles({});
    const ctx = { reader: new EvidenceReader(keys), profiles, identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)), history: noHistory };
    expect(evaluateRun({ runKey: 'run-1', spans: run('jit_access', [allow()]) }, ctx).profiles).toEqual(['default', 'jit_access']);
    expect(evaluateRun({ runKey: 'run-2', spans: run('no_such_kind', [allow()]) }, ctx).profiles).toEqual(['default']);
    expect(evaluateRun({ runKey: 'run-3', spans: run('jit_access', [allow()]) }, ctx).profiles).toEqual(['default', 'jit_access']);
  });
});

function profileOf(p: object) {
  return { required_fields: [], required_fields_if_acted: [], field_values: {}, require_decision: 'none' as const, require_change: false, required_changes: [], failure_class_on_failure: false, gate_changes_on_allow: false, constraints: [], controls: [], ...p } as never;
}

describe('findRoot', () => {
  it('picks the workflow span under a gateway span of the same trace', () => {
    const gateway = span('POST /rotate', {}, { id: '1'.repeat(16) });
    const wf = span('rotate', { 'nhi.workflow.run.id': 'r' }, { parent: gateway.spanId, id: '2'.repeat(16) });
    const child = span('step', { 'nhi.workflow.run.id': 'r' }, { parent: wf.spanId });
    expect(findRoot([child, gateway, wf], new RunIdentity(keys['run.id'], runIdentityKeys(keys)))?.spanId).toBe(wf.spanId);
  });
});

describe('parseInstant', () => {
  it('reads RFC 3339 and unix nanoseconds and refuses the rest', () => {
    expect(parseInstant('2026-11-27T05:00:00Z')).toBe(Date.UTC(2026, 10, 27, 5));
    expect(parseInstant('1795755600000000000')).toBe(1795755600000);
    expect(parseInstant('tomorrow')).toBeUndefined();
  });
});
