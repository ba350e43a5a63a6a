import { describe, expect, it } from 'vitest';
import { profileSchema, resolveProfiles } from '../profiles.js';
import { factsOf, workflowRun, type ChildSpec } from '../../../test/support/run-spans.js';
import { checkOutcome, checkRequiredChange } from './outcome.js';

const allow: ChildSpec = ['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow' }];
const deny: ChildSpec = ['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'deny' }];
const change = (operation: string, target: string, options: ChildSpec[2] = {}): ChildSpec => [operation, { 'nhi.change.operation': operation, 'nhi.change.target': target }, options];
const judged = (facts: ReturnType<typeof factsOf>) => ({
  outcome: facts.changes.outcome,
  findings: [...checkRequiredChange(facts), ...checkOutcome(facts)].map((f) => `${f.code}:${f.field ?? ''}`),
});

describe('outcome from the change steps', () => {
  it('is unknown, with missing_change only, when a run declared success and recorded no change', () => {
    expect(judged(factsOf(workflowRun(undefined, [allow])))).toEqual({ outcome: 'unknown', findings: ['missing_change:change.operation'] });
  });

  it('is failed, owing a failure class, when a run declared failure before acting', () => {
    expect(judged(factsOf(workflowRun(undefined, [allow], { 'nhi.workflow.result': 'failure' })))).toEqual({
      outcome: 'failed',
      findings: ['missing_field:failure.class'],
    });
  });

  it('is failed when a deny stopped the run before it acted', () => {
    expect(judged(factsOf(workflowRun(undefined, [deny], { 'error.type': 'policy_denied', 'nhi.workflow.result': 'denied' })))).toEqual({ outcome: 'failed', findings: [] });
  });

  it('is complete when no profile asks the run to change anything', () => {
    const noChangeAsked = resolveProfiles({ default: profileSchema.parse({}) });
    expect(judged(factsOf(workflowRun(undefined, [allow]), { profiles: noChangeAsked }))).toEqual({ outcome: 'complete', findings: [] });
  });

  it('is failed when every change was attempted and none succeeded, and says the declared success disagrees', () => {
    // The failed step's error.type (connector_timeout) is the run's failure class.
    expect(judged(factsOf(workflowRun(undefined, [allow, change('rotate', 'db', { error: true })])))).toEqual({
      outcome: 'failed',
      findings: ['declared_result_mismatch:run.result'],
    });
  });

  it('is complete when a retried step finally succeeded', () => {
    expect(judged(factsOf(workflowRun(undefined, [allow, change('rotate', 'db', { error: true }), change('rotate', 'db')])))).toEqual({ outcome: 'complete', findings: [] });
  });

  it('names the profile and rule behind a required change that is absent', () => {
    const facts = factsOf(workflowRun('secret_rotation', [allow, change('create', 'v2'), change('distribute', 'app'), change('verify', 'app')]));
    expect(facts.changes.outcome).toBe('partial');
    expect(checkOutcome(facts).find((f) => f.code === 'partial_change')).toMatchObject({ rule: 'required_changes', profile: 'secret_rotation', message: expect.stringContaining('required revoke step is absent') });
  });
});
