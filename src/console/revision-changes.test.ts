import { describe, expect, it } from 'vitest';
import { revisionChanges } from './revision-changes.js';

describe('revisionChanges', () => {
  it('names changed verdict fields, evidence, findings added and cleared, and spans added', () => {
    const before = {
      status: 'incomplete',
      outcome: 'complete',
      span_count: 2,
      evidence: { 'run.workflow': 'wf', 'requester.id': 'old' },
      findings: [{ code: 'missing_field', message: 'grant.expires_at is missing' }],
      steps: [{ span_id: 'a', name: 'root' }, { span_id: 'b', name: 'grant' }],
    };
    const after = {
      status: 'compliant',
      outcome: 'complete',
      span_count: 3,
      evidence: { 'run.workflow': 'wf', 'grant.expires_at': '2026-01-01T00:00:00Z' },
      findings: [],
      steps: [...before.steps, { span_id: 'c', name: 'record expiry' }],
    };
    expect(revisionChanges(before, after)).toEqual([
      'status: incomplete → compliant',
      'span_count: 2 → 3',
      'requester.id: old → (none)',
      'grant.expires_at: (none) → 2026-01-01T00:00:00Z',
      'finding cleared — missing_field: grant.expires_at is missing',
      '1 span added: "record expiry"',
    ]);
  });

  it('says nothing when two revisions agree', () => {
    const same = { status: 'compliant', outcome: 'complete', span_count: 1, evidence: { a: 'b' }, findings: [], steps: [{ span_id: 'a', name: 'x' }] };
    expect(revisionChanges(same, { ...same })).toEqual([]);
  });
});
