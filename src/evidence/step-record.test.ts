import { describe, expect, it } from 'vitest';
import { decodeStoredSteps, encodeSteps, stepsOfRecord } from './step-record.js';
import { stepView, type RunStep } from './steps.js';

const ROOT = 'a'.repeat(16);
const T1 = '1'.repeat(32);
const T2 = '2'.repeat(32);
const START = 1_795_763_076_139_000_123n;

const steps: RunStep[] = [
  { span_id: ROOT, parent_span_id: null, trace_id: T1, name: 'workflow', type: 'other', root: true, service: 'runner', startNs: START, endNs: START + 363_200_000n, status: 'ok', evidence: { 'actor.id': 'sa' } },
  {
    span_id: 'b'.repeat(16), parent_span_id: ROOT, trace_id: T1, name: 'policy', type: 'decision', service: 'runner',
    startNs: START + 1_000_000n, endNs: START + 7_000_000n, status: 'unset', evidence: { 'decision.policy': 'p', 'decision.result': 'allow' },
    policy: { revision: '7', owner: 'sec', controls: ['NHI7'] },
  },
  {
    span_id: 'c'.repeat(16), parent_span_id: 'b'.repeat(16), trace_id: T2, name: 'revoke', type: 'change', service: null,
    startNs: START + 1_000_000n, endNs: START + 1_000_001n, status: 'error', status_message: 'timed out', evidence: {}, succeeded: false,
    events: [{ name: 'retry', timeNs: START + 5n }],
  },
  // Far apart: the gap and the duration are not safe integers and are written as strings.
  { span_id: 'd'.repeat(16), parent_span_id: null, trace_id: T2, name: 'late', type: 'tool_call', service: 'agent', startNs: START + 2n ** 60n, endNs: START + 2n ** 61n, status: 'unset', evidence: { 'tool.name': 'search' }, succeeded: true },
  // Same start as the previous step, ending before it starts (malformed but storable).
  { span_id: 'e'.repeat(16), parent_span_id: ROOT, trace_id: T1, name: 'odd', type: 'other', service: 'agent', startNs: START + 2n ** 60n, endNs: START, status: 'unset', evidence: {} },
];

describe('stored steps', () => {
  it('round-trips every step through the compact form and JSON', () => {
    const stored = JSON.parse(JSON.stringify(encodeSteps(steps, ROOT, [T1, T2]))) as ReturnType<typeof encodeSteps>;
    expect(decodeStoredSteps(stored, ROOT, [T1, T2])).toEqual(steps);
  });

  it('does not repeat the root, the trace or an unchanged service', () => {
    const [, decision, change] = encodeSteps(steps, ROOT, [T1, T2]);
    expect(decision!.slice(1, 3)).toEqual([0, 0]);
    expect(decision![5]).toBe(0);
    expect(change![2]).toBe(1);
    expect(change![5]).toBeNull();
  });

  it('shows compact steps in full, as toStep used to store them', () => {
    const record = { root_span_id: ROOT, trace_ids: [T1, T2], steps: JSON.parse(JSON.stringify(encodeSteps(steps, ROOT, [T1, T2]))) as unknown };
    const shown = stepsOfRecord(record)!;
    expect(shown).toEqual(steps.map(stepView));
    expect(JSON.stringify(shown[2])).toBe(
      JSON.stringify({
        span_id: 'c'.repeat(16), parent_span_id: 'b'.repeat(16), trace_id: T2, name: 'revoke', type: 'change', service: null,
        started_at: '2026-11-27T07:04:36.140Z', ended_at: '2026-11-27T07:04:36.140Z', start_ns: (START + 1_000_000n).toString(),
        duration_ms: 0.000001, status: 'error', status_message: 'timed out', evidence: {}, succeeded: false,
        events: [{ name: 'retry', time: '2026-11-27T07:04:36.139Z' }],
      }),
    );
    expect(Object.keys(shown[1]!)).toEqual(['span_id', 'parent_span_id', 'trace_id', 'name', 'type', 'service', 'started_at', 'ended_at', 'start_ns', 'duration_ms', 'status', 'evidence', 'policy']);
    expect(Object.keys(shown[0]!)).toContain('root');
  });

  it('shows steps stored as objects (older records) unchanged', () => {
    const old = steps.map(stepView);
    expect(stepsOfRecord({ root_span_id: ROOT, trace_ids: [T1], steps: old })).toBe(old);
    expect(stepsOfRecord({ steps: [] })).toEqual([]);
  });
});
