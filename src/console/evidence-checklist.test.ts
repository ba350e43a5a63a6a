import { describe, expect, it } from 'vitest';
import { evaluationContext, ROOT_ID, workflowRun as run, type ChildSpec } from '../../test/support/run-spans.js';
import { evaluateRun } from '../evidence/evaluate.js';
import { resolveFieldKeys } from '../evidence/fields.js';
import { resolveProfiles } from '../evidence/profiles.js';
import type { RunSpan } from '../evidence/run-input.js';
import { stepView } from '../evidence/steps.js';
import { evidenceChecklist, type ChecklistItem } from './evidence-checklist.js';
import { createFieldSource } from './field-source.js';

const keys = resolveFieldKeys({});
const profiles = resolveProfiles({});

/** Judges the spans for real and builds the checklist from the verdict as the console shows it. */
function checklist(spans: RunSpan[]): Map<string, ChecklistItem> {
  const verdict = evaluateRun({ runKey: 'run-1', spans }, evaluationContext({ profiles }));
  const shown = { ...verdict, steps: verdict.steps.map(stepView) };
  const items = evidenceChecklist(shown, profiles, createFieldSource(spans, verdict.root_span_id, keys));
  return new Map(items.map((i) => [i.requirement, i]));
}

const allow: ChildSpec = ['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow' }];
const change = (operation: string, target: string, error = false): ChildSpec => [`${operation} ${target}`, { 'nhi.change.operation': operation, 'nhi.change.target': target }, { error }];

describe('evidenceChecklist', () => {
  it('names the span each required field, decision and change was read from', () => {
    const spans = run('jit_access', [allow, change('grant', 'role/x')], { 'nhi.requester.id': 'alice', 'nhi.grant.expires_at': '2030-01-01T00:00:00Z' });
    const items = checklist(spans);
    const policy = spans.find((s) => s.name === 'policy')!.spanId;
    const grant = spans.find((s) => s.name === 'grant role/x')!.spanId;
    expect(items.get('run.workflow')).toEqual({ requirement: 'run.workflow', kind: 'field', state: 'present', value: 'wf', span_id: ROOT_ID });
    expect(items.get('requester.id')).toMatchObject({ state: 'present', value: 'alice', span_id: ROOT_ID });
    expect(items.get('grant.expires_at')).toMatchObject({ state: 'present', span_id: ROOT_ID });
    expect(items.get('an allow decision')).toMatchObject({ kind: 'decision', state: 'present', value: 'p: allow', span_id: policy });
    expect(items.get('grant, succeeded')).toMatchObject({ kind: 'change', state: 'present', span_id: grant });
    expect(items.get('failure.class')).toMatchObject({ state: 'not_required' });
    expect([...items.values()].every((i) => i.state !== 'missing' && i.state !== 'failed')).toBe(true);
  });

  it('marks missing fields and decisions with the finding that says so', () => {
    const items = checklist(run('jit_access', [change('grant', 'role/x')]));
    expect(items.get('requester.id')).toMatchObject({ state: 'missing', note: expect.stringContaining('requester.id is missing') });
    expect(items.get('an allow decision')).toMatchObject({ state: 'missing', note: 'no allow decision was recorded' });
    // A change succeeded, so the expiry is owed too.
    expect(items.get('grant.expires_at')).toMatchObject({ state: 'missing' });
  });

  it('marks a required change whose last attempt failed, with that attempt, and counts a retried one by its last attempt', () => {
    const spans = run('secret_rotation', [
      allow,
      change('create', 'v2'),
      change('distribute', 'app', true),
      change('distribute', 'app'),
      change('verify', 'app'),
      change('revoke', 'v1', true),
    ]);
    const items = checklist(spans);
    const lastRevoke = spans.find((s) => s.name === 'revoke v1')!.spanId;
    expect(items.get('revoke, succeeded')).toMatchObject({ state: 'failed', span_id: lastRevoke, note: expect.stringContaining('revoke') });
    const secondDistribute = spans.filter((s) => s.name === 'distribute app')[1]!.spanId;
    expect(items.get('distribute, succeeded')).toMatchObject({ state: 'present', span_id: secondDistribute, note: '2 attempts; the last counts' });
  });

  it('shows a required change that never happened as missing with the profile\'s reason', () => {
    const items = checklist(run('secret_rotation', [allow, change('create', 'v2'), change('distribute', 'app'), change('verify', 'app')]));
    expect(items.get('revoke, succeeded')).toEqual({
      requirement: 'revoke, succeeded',
      kind: 'change',
      state: 'missing',
      note: 'the old version must be revoked, or the rotation left a live secret',
    });
  });
});
