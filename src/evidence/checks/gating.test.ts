import { describe, expect, it } from 'vitest';
import { factsOf, GRANT_EXPIRES_AT, ROOT_ID, runSpan, workflowRun, type ChildSpec } from '../../../test/support/run-spans.js';
import { checkChangesAfterDeny, checkGatedChanges } from './gating.js';

const decision = (result: 'allow' | 'deny', options: ChildSpec[2] = {}): ChildSpec => [`policy ${result}`, { 'nhi.policy.id': 'jit.prod', 'nhi.policy.decision': result }, options];
const change = (operation: string, target: string, options: ChildSpec[2] = {}): ChildSpec => [`${operation} ${target}`, { 'nhi.change.operation': operation, 'nhi.change.target': target }, options];
const jit = (children: ChildSpec[]) => workflowRun('jit_access', children, { 'nhi.requester.id': 'alice', 'nhi.grant.expires_at': GRANT_EXPIRES_AT });
const spanOf = (spans: ReturnType<typeof workflowRun>, name: string) => spans.find((s) => s.name === name)!.spanId;

describe('checkGatedChanges (gate_changes_on_allow)', () => {
  it('accepts a grant that follows an allow decision', () => {
    expect(checkGatedChanges(factsOf(jit([decision('allow'), change('grant', 'role/db')])))).toEqual([]);
  });

  it('flags a grant whose allow was recorded after it, naming the grant and the late decision', () => {
    const spans = jit([change('grant', 'role/db'), decision('allow')]);
    const [f, ...rest] = checkGatedChanges(factsOf(spans));
    expect(rest).toEqual([]);
    expect(f).toMatchObject({
      code: 'ungated_change',
      rule: 'gate_changes_on_allow',
      profile: 'jit_access',
      span_id: spanOf(spans, 'grant role/db'),
      span_ids: [spanOf(spans, 'grant role/db'), spanOf(spans, 'policy allow')],
    });
    expect(f!.message).toContain('before its allow decision');
  });

  it('does not let a policy check that failed gate anything', () => {
    const spans = jit([decision('allow', { error: true }), change('grant', 'role/db')]);
    expect(checkGatedChanges(factsOf(spans)).map((f) => [f.code, f.span_id])).toEqual([['ungated_change', spanOf(spans, 'grant role/db')]]);
  });

  it('counts a success before the approval even when a later retry followed it', () => {
    const spans = jit([change('grant', 'role/db'), decision('allow'), change('grant', 'role/db')]);
    const flagged = checkGatedChanges(factsOf(spans));
    expect(flagged.map((f) => f.span_id)).toEqual([spans[1]!.spanId]);
  });

  it('accepts a grant that failed before the approval and was retried after it', () => {
    const spans = jit([change('grant', 'role/db', { error: true }), decision('allow'), change('grant', 'role/db')]);
    expect(checkGatedChanges(factsOf(spans))).toEqual([]);
  });

  it('asks nothing of profiles that do not gate changes', () => {
    expect(checkGatedChanges(factsOf(workflowRun(undefined, [change('rotate', 'vault:kv/db'), decision('allow')])))).toEqual([]);
  });
});

describe('checkChangesAfterDeny (deny_binds, every profile)', () => {
  it('flags a change that succeeded after a deny in the default profile, naming both spans', () => {
    const spans = workflowRun(undefined, [decision('deny'), change('rotate', 'vault:kv/db')]);
    const findings = checkChangesAfterDeny(factsOf(spans));
    expect(findings).toEqual([
      expect.objectContaining({
        code: 'change_after_deny',
        severity: 'critical',
        rule: 'deny_binds',
        span_ids: [spanOf(spans, 'rotate vault:kv/db'), spanOf(spans, 'policy deny')],
        message: expect.stringContaining('rotate of vault:kv/db succeeded after jit.prod denied it'),
      }),
    ]);
    expect(findings[0]).not.toHaveProperty('profile');
  });

  it('flags an agent tool call after a deny', () => {
    const spans = workflowRun('agent_task', [decision('deny'), ['execute_tool drop_table', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'drop_table' }]]);
    expect(checkChangesAfterDeny(factsOf(spans)).map((f) => f.message)).toEqual([expect.stringContaining('tool call drop_table')]);
  });

  it('still binds when the check reported its deny as an error', () => {
    const spans = workflowRun(undefined, [decision('deny', { error: true }), change('rotate', 'vault:kv/db')]);
    expect(checkChangesAfterDeny(factsOf(spans)).map((f) => f.code)).toEqual(['change_after_deny']);
  });

  it('is lifted by an allow of the same step between the deny and the change', () => {
    expect(checkChangesAfterDeny(factsOf(workflowRun(undefined, [decision('deny'), decision('allow'), change('rotate', 'x')])))).toEqual([]);
  });

  it('binds again when a deny follows the allow', () => {
    const spans = workflowRun(undefined, [decision('allow'), decision('deny'), change('rotate', 'x')]);
    expect(checkChangesAfterDeny(factsOf(spans)).map((f) => f.code)).toEqual(['change_after_deny']);
  });

  it('asks nothing of a change that failed after the deny, or of one made before it', () => {
    expect(checkChangesAfterDeny(factsOf(workflowRun(undefined, [decision('deny'), change('rotate', 'x', { error: true })])))).toEqual([]);
    expect(checkChangesAfterDeny(factsOf(workflowRun(undefined, [change('rotate', 'x'), decision('deny')])))).toEqual([]);
  });

  it("limits a deny inside a step span to that step's changes", () => {
    const stepA = runSpan('step review-a', {}, { parent: ROOT_ID });
    const stepB = runSpan('step rotate-b', {}, { parent: ROOT_ID });
    const spans = [
      ...workflowRun(undefined, []),
      stepA,
      runSpan('policy deny', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'deny' }, { parent: stepA.spanId }),
      stepB,
      runSpan('rotate b', { 'nhi.change.operation': 'rotate', 'nhi.change.target': 'b' }, { parent: stepB.spanId }),
      runSpan('rotate a', { 'nhi.change.operation': 'rotate', 'nhi.change.target': 'a' }, { parent: stepA.spanId }),
    ];
    expect(checkChangesAfterDeny(factsOf(spans)).map((f) => f.span_id)).toEqual([spans.find((s) => s.name === 'rotate a')!.spanId]);
  });

  it('does not let an allow of another step lift the deny', () => {
    const stepB = runSpan('step b', {}, { parent: ROOT_ID });
    const spans = [
      ...workflowRun(undefined, [decision('deny')]),
      stepB,
      runSpan('policy allow b', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow' }, { parent: stepB.spanId }),
      runSpan('rotate x', { 'nhi.change.operation': 'rotate', 'nhi.change.target': 'x' }, { parent: ROOT_ID }),
    ];
    expect(checkChangesAfterDeny(factsOf(spans)).map((f) => f.code)).toEqual(['change_after_deny']);
  });
});
