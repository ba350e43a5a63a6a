import { describe, expect, it } from 'vitest';
import { profileSchema, resolveProfiles } from '../profiles.js';
import { factsOf, GRANT_EXPIRES_AT, workflowRun, type ChildSpec } from '../../../test/support/run-spans.js';
import { checkGrantBounds, formatDuration } from './grants.js';

const allow: ChildSpec = ['policy', { 'nhi.policy.id': 'jit.prod', 'nhi.policy.decision': 'allow' }];
const grant = (extra: Record<string, string> = {}, options: ChildSpec[2] = {}): ChildSpec => [
  'grant role/db',
  { 'nhi.change.operation': 'grant', 'nhi.change.target': 'role/db', ...extra },
  options,
];
const jit = (expiresAt: string | undefined, children: ChildSpec[] = [allow, grant()]) =>
  workflowRun('jit_access', children, { 'nhi.requester.id': 'alice', ...(expiresAt !== undefined ? { 'nhi.grant.expires_at': expiresAt } : {}) });

describe('checkGrantBounds', () => {
  it('accepts a JIT grant that expires four hours after it', () => {
    expect(checkGrantBounds(factsOf(jit(GRANT_EXPIRES_AT)))).toEqual([]);
  });

  it("flags a JIT grant longer than the profile's maximum, with its duration", () => {
    const spans = jit('2025-11-25T17:00:00Z');
    expect(checkGrantBounds(factsOf(spans))).toEqual([
      expect.objectContaining({
        code: 'grant_duration_exceeded',
        severity: 'critical',
        rule: 'max_grant_duration_minutes',
        profile: 'jit_access',
        span_id: spans.find((s) => s.name === 'grant role/db')!.spanId,
        message: "grant of role/db lasts 1d 1h (until 2025-11-25T17:00:00Z), over jit_access's maximum of 1d",
      }),
    ]);
  });

  it('flags an expiry before the end of the grant, by how much', () => {
    const [f, ...rest] = checkGrantBounds(factsOf(jit('2025-11-24T15:30:00Z')));
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ code: 'invalid_field', field: 'grant.expires_at', rule: 'grant_expiry', message: expect.stringContaining('is 30m before the end of the grant of role/db') });
  });

  it("reads the grant's own expiry before the run's", () => {
    const spans = jit(GRANT_EXPIRES_AT, [allow, grant({ 'nhi.grant.expires_at': '2025-12-24T16:00:00Z' })]);
    expect(checkGrantBounds(factsOf(spans)).map((f) => f.code)).toEqual(['grant_duration_exceeded']);
  });

  it('asks nothing of a grant that failed', () => {
    expect(checkGrantBounds(factsOf(jit('2026-11-24T16:00:00Z', [allow, grant({}, { error: true })])))).toEqual([]);
  });

  it('bounds no duration where no profile sets one, but still wants the expiry after the grant', () => {
    const longRun = workflowRun(undefined, [allow, grant()], { 'nhi.grant.expires_at': '2026-11-24T16:00:00Z' });
    expect(checkGrantBounds(factsOf(longRun))).toEqual([]);
    const backwards = workflowRun(undefined, [allow, grant()], { 'nhi.grant.expires_at': '2025-11-24T15:00:00Z' });
    expect(checkGrantBounds(factsOf(backwards)).map((f) => f.code)).toEqual(['invalid_field']);
  });

  it('takes the maximum from config, and null turns it off', () => {
    const eightHours = resolveProfiles({ jit_access: profileSchema.parse({ max_grant_duration_minutes: 480 }) });
    expect(checkGrantBounds(factsOf(jit('2025-11-25T01:00:00Z'), { profiles: eightHours })).map((f) => f.message)).toEqual([
      expect.stringContaining("lasts 9h (until 2025-11-25T01:00:00Z), over jit_access's maximum of 8h"),
    ]);
    const unbounded = resolveProfiles({ jit_access: profileSchema.parse({ max_grant_duration_minutes: null }) });
    expect(checkGrantBounds(factsOf(jit('2026-11-24T16:00:00Z'), { profiles: unbounded }))).toEqual([]);
  });

  it('flags an expiry that is neither RFC 3339 nor unix nanoseconds', () => {
    expect(checkGrantBounds(factsOf(jit('in one hour'))).map((f) => [f.code, f.field])).toEqual([['invalid_field', 'grant.expires_at']]);
  });
});

describe('formatDuration', () => {
  it('shows the two largest units that are not zero', () => {
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(90_000_000)).toBe('1d 1h');
    expect(formatDuration(5_400_000)).toBe('1h 30m');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(3_723_000)).toBe('1h 2m');
    expect(formatDuration(250)).toBe('250ms');
  });
});
