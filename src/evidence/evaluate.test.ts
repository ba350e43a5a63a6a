import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Attributes } from '../otlp/attributes.js';
import { parseCatalogue } from '../enrich/catalogue.js';
import { evaluateRun, type Enrichment, type RunVerdict } from './evaluate.js';
import { awaitsRoot, findRoot } from './run-root.js';
import { parseInstant } from './checks/grants.js';
import { FIELD_NAMES, resolveFieldKeys, runIdentityKeys, type FieldName } from './fields.js';
import { resolveProfiles } from './profiles.js';
import type { RunHistory, RunSpan } from './run-input.js';
import { EvidenceReader } from './steps.js';
import { RunIdentity } from '../runs/run-identity.js';
import { GRANT_EXPIRES_AT, ROOT_ID, runSpan as span, workflowRun as run } from '../../test/support/run-spans.js';

const keys = resolveFieldKeys({});
const noHistory: RunHistory = { runWithTrigger: () => undefined, runWithDecision: () => undefined, lastDefinition: () => undefined };

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
  it('reads tool calls by the keys configured for them, in judging and in the steps alike', () => {
    const custom = resolveFieldKeys({ 'tool.name': { add_keys: ['acme.tool'] } });
    const spans = run('agent_task', [['call search', { 'acme.tool': 'search_tickets' }]], { 'nhi.actor.type': 'ai_agent' });
    const verdict = evaluateRun(
      { runKey: 'run-1', spans },
      { reader: new EvidenceReader(custom), profiles: resolveProfiles({}), identity: new RunIdentity(custom['run.id'], runIdentityKeys(custom)), history: noHistory },
    );
    expect(verdict.steps.map((s) => [s.name, s.type, s.succeeded])).toEqual([
      ['workflow', 'other', undefined],
      ['call search', 'tool_call', true],
    ]);
    expect(verdict.outcome).toBe('complete');
  });

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
        'nhi.grant.expires_at': GRANT_EXPIRES_AT,
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

// --- default source keys (DESIGN §5, README "Evidence") -------------------------------------------

/**
 * DESIGN §5's table, written in the code's field names. DESIGN groups some rows: `trigger.event`
 * (`cloudevents.event_source`+`cloudevents.event_id`, `nhi.trigger.event_id`) is trigger.event_source
 * and trigger.event_id here; the decision, change and tool call rows are one field per fact.
 */
const DESIGN_FIELD_KEYS: Record<FieldName, readonly string[]> = {
  'run.id': ['cicd.pipeline.run.id', 'nhi.workflow.run.id'],
  'run.workflow': ['cicd.pipeline.name', 'gen_ai.workflow.name', 'nhi.workflow.name'],
  'run.kind': ['nhi.workflow.kind'],
  'run.definition': ['nhi.workflow.definition.hash'],
  'run.result': ['cicd.pipeline.result', 'nhi.workflow.result'],
  'trigger.kind': ['nhi.trigger.kind'],
  'trigger.event_source': ['cloudevents.event_source'],
  'trigger.event_id': ['cloudevents.event_id', 'nhi.trigger.event_id'],
  'actor.id': ['nhi.actor.id', 'gen_ai.agent.id'],
  'actor.type': ['nhi.actor.type'],
  'actor.authn': ['nhi.actor.authn'],
  'requester.id': ['nhi.requester.id', 'enduser.id', 'user.id'],
  'decision.policy': ['nhi.policy.id', 'security_rule.name'],
  'decision.result': ['nhi.policy.decision'],
  'decision.revision': ['nhi.policy.revision', 'security_rule.version'],
  'decision.id': ['nhi.policy.decision_id'],
  'change.operation': ['nhi.change.operation'],
  'change.target': ['nhi.change.target', 'cloud.resource_id'],
  'grant.expires_at': ['nhi.grant.expires_at'],
  'failure.class': ['error.type'],
  'tool.operation': ['gen_ai.operation.name'],
  'tool.name': ['gen_ai.tool.name'],
  'tool.call_id': ['gen_ai.tool.call.id'],
};

/** Which span of a probe run carries the field. */
type Slot = 'root' | 'decision' | 'change' | 'tool';

interface FieldProbe {
  readonly on: Slot;
  readonly value: string;
  readonly kind?: string;
  /** Attributes of other fields the behaviour needs, on the root. */
  readonly rootExtra?: Attributes;
  /** Other fields removed from the run, so that this field's effect shows. */
  readonly strip?: readonly FieldName[];
  readonly history?: RunHistory;
  readonly enrichment?: Enrichment;
  /** What the field drives: `found` carries it under one key, `absent` under none. */
  readonly shows: (found: RunVerdict, absent: RunVerdict) => void;
}

const missingFields = (v: RunVerdict) => v.findings.filter((f) => f.code === 'missing_field').map((f) => f.field);
const stepNamed = (v: RunVerdict, name: string) => v.steps.find((s) => s.name === name)!;
const replayOf = (key: string): RunHistory => ({ ...noHistory, runWithTrigger: (k) => (k === key ? 'run-0' : undefined) });
const EXPIRES_AT = GRANT_EXPIRES_AT;
const probeCatalogue = (file: object) => parseCatalogue(file, { source: 'catalogue.yaml', revision: 'c1' });

const PROBES: Record<FieldName, FieldProbe> = {
  'run.id': {
    on: 'root',
    value: 'run-7',
    strip: ['run.workflow'],
    shows: (found, absent) => {
      expect(found.root_span_id).toBe(ROOT_ID);
      expect(codes(absent)).toContain('root_span_missing');
      expect(codes(found)).not.toContain('root_span_missing');
    },
  },
  'run.workflow': {
    on: 'root',
    value: 'deploy',
    shows: (found, absent) => {
      expect(found.workflow).toBe('deploy');
      expect(missingFields(absent)).toContain('run.workflow');
      expect(missingFields(found)).not.toContain('run.workflow');
    },
  },
  'run.kind': {
    on: 'root',
    value: 'access_review',
    shows: (found, absent) => {
      expect(found.kind).toBe('access_review');
      expect(found.profiles).toEqual(['default', 'access_review']);
      expect(absent.profiles).toEqual(['default']);
    },
  },
  'run.definition': {
    on: 'root',
    value: 'sha256:pinned',
    enrichment: { catalogue: probeCatalogue({ workflows: [{ name: 'wf', pinned_definition: 'sha256:pinned' }] }) },
    shows: (found, absent) => {
      expect(found.definition).toBe('sha256:pinned');
      expect(found.claims.definition).toBe('sha256:pinned');
      expect(missingFields(absent)).toContain('run.definition');
      expect(missingFields(found)).not.toContain('run.definition');
    },
  },
  'run.result': {
    on: 'root',
    value: 'success',
    shows: (found, absent) => {
      expect(found.declared_result).toBe('success');
      expect(missingFields(absent)).toContain('run.result');
      expect(missingFields(found)).not.toContain('run.result');
    },
  },
  'trigger.kind': {
    on: 'root',
    value: 'event',
    shows: (found, absent) => {
      expect(found.trigger.kind).toBe('event');
      expect(missingFields(absent)).toContain('trigger.kind');
      expect(missingFields(found)).not.toContain('trigger.kind');
    },
  },
  'trigger.event_source': {
    on: 'root',
    value: 'queue://orders',
    rootExtra: { 'nhi.trigger.event_id': 'evt-1' },
    history: replayOf('queue://orders|evt-1'),
    shows: (found, absent) => {
      expect(found.trigger.event).toBe('queue://orders|evt-1');
      expect(absent.trigger.event).toBe('|evt-1');
      expect(codes(found)).toContain('replayed_trigger');
      expect(codes(absent)).not.toContain('replayed_trigger');
    },
  },
  'trigger.event_id': {
    on: 'root',
    value: 'evt-9',
    history: replayOf('|evt-9'),
    shows: (found, absent) => {
      expect(found.claims.trigger_event).toBe('|evt-9');
      expect(absent.claims.trigger_event).toBeNull();
      expect(codes(found)).toContain('replayed_trigger');
      expect(codes(absent)).not.toContain('replayed_trigger');
    },
  },
  'actor.id': {
    on: 'root',
    value: 'sa-7',
    shows: (found, absent) => {
      expect(found.actor.id).toBe('sa-7');
      expect(missingFields(absent)).toContain('actor.id');
      expect(missingFields(found)).not.toContain('actor.id');
    },
  },
  'actor.type': {
    on: 'root',
    value: 'ai_agent',
    kind: 'agent_task',
    shows: (found, absent) => {
      expect(found.actor.type).toBe('ai_agent');
      expect(missingFields(absent)).toContain('actor.type');
      expect(codes(found)).toEqual([]);
    },
  },
  'actor.authn': {
    on: 'root',
    value: 'mtls',
    shows: (found, absent) => {
      expect(found.actor.authn).toBe('mtls');
      expect(absent.actor.authn).toBeNull();
    },
  },
  'requester.id': {
    on: 'root',
    value: 'alice',
    kind: 'jit_access',
    rootExtra: { 'nhi.grant.expires_at': EXPIRES_AT },
    shows: (found, absent) => {
      expect(found.requester_id).toBe('alice');
      expect(missingFields(absent)).toContain('requester.id');
      expect(codes(found)).toEqual([]);
    },
  },
  'decision.policy': {
    on: 'decision',
    value: 'rotation-policy',
    shows: (found, absent) => {
      expect(stepNamed(found, 'decision').evidence['decision.policy']).toBe('rotation-policy');
      expect(codes(absent)).toContain('missing_decision');
      expect(codes(found)).toEqual([]);
    },
  },
  'decision.result': {
    on: 'decision',
    value: 'allow',
    kind: 'jit_access',
    rootExtra: { 'nhi.requester.id': 'alice', 'nhi.grant.expires_at': EXPIRES_AT },
    shows: (found, absent) => {
      expect(codes(absent)).toEqual(expect.arrayContaining(['missing_decision', 'ungated_change']));
      expect(codes(found)).toEqual([]);
    },
  },
  'decision.revision': {
    on: 'decision',
    value: '2',
    enrichment: { catalogue: probeCatalogue({ policies: [{ id: 'p', revision: '3', owner: 'sec' }] }) },
    shows: (found, absent) => {
      expect(codes(found)).toEqual(['policy_revision_mismatch']);
      expect(codes(absent)).toEqual([]);
    },
  },
  'decision.id': {
    on: 'decision',
    value: 'd-7',
    history: { ...noHistory, runWithDecision: (id) => (id === 'd-7' ? 'run-0' : undefined) },
    shows: (found, absent) => {
      expect(found.claims.decision_ids).toEqual(['d-7']);
      expect(absent.claims.decision_ids).toEqual([]);
      expect(codes(found)).toEqual(['reused_approval']);
      expect(codes(absent)).toEqual([]);
    },
  },
  'change.operation': {
    on: 'change',
    value: 'grant',
    shows: (found, absent) => {
      expect(stepNamed(found, 'change').type).toBe('change');
      expect(codes(absent)).toContain('missing_change');
      expect(codes(found)).toEqual([]);
    },
  },
  'change.target': {
    on: 'change',
    value: 'role/x',
    shows: (found, absent) => {
      expect(stepNamed(found, 'change').evidence['change.target']).toBe('role/x');
      expect(missingFields(absent)).toContain('change.target');
      expect(codes(found)).toEqual([]);
    },
  },
  'grant.expires_at': {
    on: 'root',
    value: EXPIRES_AT,
    kind: 'jit_access',
    rootExtra: { 'nhi.requester.id': 'alice' },
    shows: (found, absent) => {
      expect(missingFields(absent)).toContain('grant.expires_at');
      expect(codes(found)).toEqual([]);
    },
  },
  'failure.class': {
    on: 'root',
    value: 'connector_timeout',
    rootExtra: { 'nhi.workflow.result': 'failure' },
    shows: (found, absent) => {
      expect(missingFields(absent)).toContain('failure.class');
      expect(missingFields(found)).not.toContain('failure.class');
    },
  },
  'tool.operation': {
    on: 'tool',
    value: 'execute_tool',
    strip: ['tool.name'],
    shows: (found, absent) => {
      expect(stepNamed(found, 'tool').type).toBe('tool_call');
      expect(stepNamed(absent, 'tool').type).toBe('other');
      expect(missingFields(found)).toContain('tool.name');
      expect(missingFields(absent)).not.toContain('tool.name');
    },
  },
  'tool.name': {
    on: 'tool',
    value: 'delete_all',
    enrichment: { catalogue: probeCatalogue({ policies: [{ id: 'p', revision: '1', owner: 'sec' }], agents: [{ agent_id: 'sa-1', approved_tools: ['search'] }] }) },
    shows: (found, absent) => {
      expect(codes(found)).toEqual(['tool_outside_boundary']);
      expect(missingFields(absent)).toEqual(['tool.name']);
    },
  },
  'tool.call_id': {
    on: 'tool',
    value: 'call-1',
    shows: (found, absent) => {
      expect(stepNamed(found, 'tool').evidence['tool.call_id']).toBe('call-1');
      expect(stepNamed(absent, 'tool').evidence['tool.call_id']).toBeUndefined();
    },
  },
};

/**
 * A run that is compliant under the default profile: a root, an allow decision, a grant (and a tool
 * call when the probe needs one). Every key of `field` (and of the probe's `strip`) is removed, then
 * `place` puts attributes on the probe's span and `resource` on that span's resource.
 */
function probeRun(field: FieldName, place: Attributes, resource: Attributes = {}): RunSpan[] {
  const probe = PROBES[field];
  const slots: Record<Slot, Attributes | undefined> = {
    root: {
      'nhi.workflow.run.id': 'run-1',
      'nhi.workflow.name': 'wf',
      'nhi.workflow.result': 'success',
      'nhi.trigger.kind': 'schedule',
      'nhi.actor.id': 'sa-1',
      ...(probe.kind ? { 'nhi.workflow.kind': probe.kind } : {}),
      ...probe.rootExtra,
    },
    decision: { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow' },
    change: { 'nhi.change.operation': 'grant', 'nhi.change.target': 'role/x' },
    tool: probe.on === 'tool' ? { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' } : undefined,
  };
  const stripped = new Set([field, ...(probe.strip ?? [])].flatMap((f) => DESIGN_FIELD_KEYS[f]));
  const spans: RunSpan[] = [];
  for (const slot of ['root', 'decision', 'change', 'tool'] as const) {
    const base = slots[slot];
    if (base === undefined) continue;
    const attributes = Object.fromEntries(Object.entries(base).filter(([key]) => !stripped.has(key)));
    const own = slot === probe.on;
    const s = span(slot, own ? { ...attributes, ...place } : attributes, slot === 'root' ? { id: ROOT_ID } : { parent: ROOT_ID });
    spans.push(own ? { ...s, resource: { ...s.resource, ...resource } } : s);
  }
  return spans;
}

function judgeProbe(field: FieldName, spans: RunSpan[]): RunVerdict {
  const probe = PROBES[field];
  return evaluateRun(
    { runKey: 'run-1', spans },
    {
      reader: new EvidenceReader(keys),
      profiles: resolveProfiles({}),
      identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)),
      history: probe.history ?? noHistory,
      ...(probe.enrichment ? { enrichment: probe.enrichment } : {}),
    },
  );
}

const multiKeyFields = FIELD_NAMES.filter((field) => DESIGN_FIELD_KEYS[field].length > 1);

describe('default source keys', () => {
  it('are the keys of the DESIGN §5 table, in its order', () => {
    expect(resolveFieldKeys({})).toEqual(DESIGN_FIELD_KEYS);
    expect([...FIELD_NAMES].sort()).toEqual(Object.keys(DESIGN_FIELD_KEYS).sort());
  });

  it('are the keys of the README "Evidence" table, in its order', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Evidence'));
    const lines = section.slice(section.indexOf('| field |')).split('\n').slice(2);
    const rows = lines.slice(0, lines.findIndex((line) => !line.startsWith('|')));
    const ticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/=.*$/, ''));
    const documented = new Set<FieldName>();
    const all = new Set(Object.values(keys).flat());
    for (const row of rows) {
      const [, name = '', keyCell = ''] = row.split('|').map((cell) => cell.trim());
      const names = ticked(name) as FieldName[];
      if (names.length > 0) {
        // `a` / `b` | `a keys` / `b keys`
        const parts = keyCell.split(' / ');
        expect(parts, row).toHaveLength(names.length);
        names.forEach((field, i) => {
          expect(ticked(parts[i]!), `${field} in README`).toEqual(keys[field]);
          documented.add(field);
        });
      } else {
        // A span row ("decision (a span)"): its keys, read in order, for each of its fields.
        const prefix = `${name.replace(/ \(a span\)$/, '').replace(/ call$/, '')}.`;
        const listed = ticked(keyCell);
        for (const key of listed) expect(all.has(key), `${key} (README ${name}) is a default key`).toBe(true);
        for (const field of FIELD_NAMES.filter((f) => f.startsWith(prefix))) {
          expect(listed.filter((key) => keys[field].includes(key)), `${field} in README`).toEqual(keys[field]);
          documented.add(field);
        }
      }
    }
    expect([...documented].sort()).toEqual([...FIELD_NAMES].sort());
  });

  it('has a probe for every field', () => {
    expect(Object.keys(PROBES).sort()).toEqual([...FIELD_NAMES].sort());
  });

  const cases = FIELD_NAMES.flatMap((field) => DESIGN_FIELD_KEYS[field].map((key) => [field, key] as const));
  it.each(cases)('reads %s from %s alone', (field, key) => {
    const probe = PROBES[field];
    const found = judgeProbe(field, probeRun(field, { [key]: probe.value }));
    const absent = judgeProbe(field, probeRun(field, {}));
    expect(found.evidence[field]).toBe(probe.value);
    expect(absent.evidence[field]).toBeUndefined();
    probe.shows(found, absent);
  });

  it.each(multiKeyFields)('takes %s from its first listed key when several carry it', (field) => {
    const fieldKeys = DESIGN_FIELD_KEYS[field];
    const valueOf = (key: string) => `${key}:value`;
    // Attributes in reverse order: the key list decides, not the attribute order.
    const everything = Object.fromEntries([...fieldKeys].reverse().map((key) => [key, valueOf(key)]));
    expect(judgeProbe(field, probeRun(field, everything)).evidence[field]).toBe(valueOf(fieldKeys[0]!));
    for (let i = 0; i < fieldKeys.length; i++) {
      for (let j = i + 1; j < fieldKeys.length; j++) {
        const pair = { [fieldKeys[j]!]: valueOf(fieldKeys[j]!), [fieldKeys[i]!]: valueOf(fieldKeys[i]!) };
        expect(judgeProbe(field, probeRun(field, pair)).evidence[field], `${fieldKeys[i]} before ${fieldKeys[j]}`).toBe(valueOf(fieldKeys[i]!));
      }
    }
  });

  it.each(FIELD_NAMES)("reads %s from the span before its resource, even a key listed later", (field) => {
    const fieldKeys = DESIGN_FIELD_KEYS[field];
    const first = fieldKeys[0]!;
    const last = fieldKeys.at(-1)!;
    const v = judgeProbe(field, probeRun(field, { [last]: 'from-span' }, { [first]: 'from-resource' }));
    expect(v.evidence[field]).toBe('from-span');
    expect(judgeProbe(field, probeRun(field, {}, { [last]: 'from-resource' })).evidence[field]).toBe('from-resource');
  });

  it("takes run-level evidence from the root's resource before the attributes of a span that started earlier", () => {
    const root = span('workflow', { 'nhi.workflow.run.id': 'run-1', 'nhi.workflow.name': 'wf' }, { id: ROOT_ID, start: 2_000_000n });
    const early = span('grant', { 'nhi.change.operation': 'grant', 'nhi.change.target': 'x', 'nhi.actor.id': 'from-child' }, { parent: ROOT_ID, start: 1_000_000n });
    const v = judge([early, { ...root, resource: { ...root.resource, 'gen_ai.agent.id': 'from-root-resource' } }]);
    expect(v.root_span_id).toBe(ROOT_ID);
    expect(v.evidence['actor.id']).toBe('from-root-resource');
    expect(v.actor.id).toBe('from-root-resource');
    // Without the root's value, the other span's is used.
    expect(judge([early, root]).evidence['actor.id']).toBe('from-child');
  });
});

describe('awaitsRoot', () => {
  const identity = new RunIdentity(keys['run.id'], runIdentityKeys(keys));
  const ids = { 'nhi.workflow.run.id': 'wf-run-1' };
  const id = (n: number) => n.toString(16).padStart(16, '0');
  // Temporal: StartWorkflow (client) starts the trace; RunWorkflow (id 2) is exported when the workflow ends.
  const startWorkflow = span('StartWorkflow', {}, { id: id(1) });
  const runWorkflow = span('RunWorkflow', ids, { id: id(2), parent: id(1) });
  const activity = (n: number, named = true) => [
    span(`StartActivity ${n}`, named ? ids : {}, { id: id(10 + n), parent: id(2) }),
    span(`RunActivity ${n}`, ids, { id: id(20 + n), parent: id(10 + n) }),
  ];

  it('waits while two activities hang under the workflow span that has not arrived', () => {
    expect(awaitsRoot([startWorkflow, ...activity(1), ...activity(2)], identity)).toBe(true);
    // The activity's own StartActivity span need not name the run: it is followed up to the same gap.
    expect(awaitsRoot([startWorkflow, ...activity(1, false), ...activity(2)], identity)).toBe(true);
  });

  it('does not wait once the workflow span arrived, or with a single activity (its parent may be exported elsewhere)', () => {
    expect(awaitsRoot([startWorkflow, runWorkflow, ...activity(1), ...activity(2)], identity)).toBe(false);
    expect(awaitsRoot([startWorkflow, ...activity(1)], identity)).toBe(false);
  });

  it('does not wait for a run anchored at a span without a parent or at one continuing a caller', () => {
    const gateway = { ...span('POST /rotations', {}, { id: id(3) }), kind: 2 };
    const workflow = span('workflow', ids, { id: id(4), parent: id(3) });
    expect(awaitsRoot([gateway, workflow], identity)).toBe(false);
    // Two SERVER spans of called services, both naming the run, under a caller that never exports here.
    const callee = (n: number) => ({ ...span(`POST /step-${n}`, ids, { id: id(30 + n), parent: id(9) }), kind: 2 });
    expect(awaitsRoot([callee(1), callee(2)], identity)).toBe(false);
  });
});
