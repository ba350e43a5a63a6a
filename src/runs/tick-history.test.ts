import { describe, expect, it } from 'vitest';
import type { RunVerdict } from '../evidence/evaluate.js';
import { TickHistory, type ClaimSource } from './tick-history.js';

/** A stored history holding one earlier run of workflow "rotate" (definition v0, started at 0). */
const stored: ClaimSource = {
  firstTriggerClaimant: () => undefined,
  firstDecisionClaimant: () => undefined,
  lastDefinition: (workflow, except, startNs) =>
    workflow === 'rotate' && except !== 'stored' && startNs >= 0n ? { definition: 'v0', runKey: 'stored', startNs: 0n } : undefined,
};

function judged(runKey: string, definition: string): RunVerdict {
  return { run_id: runKey, workflow: 'rotate', claims: { trigger_event: null, decision_ids: [], definition } } as unknown as RunVerdict;
}

describe('TickHistory.lastDefinition', () => {
  it('compares a run with the one that started last before it, whatever order the pass judged them in', () => {
    const history = new TickHistory(stored);
    history.record(judged('early', 'v1'), 10n);
    history.record(judged('late', 'v3'), 30n);

    // Started between the two: its predecessor is "early", not the stored run nor the later "late".
    expect(history.lastDefinition('rotate', 'middle', 20n)).toMatchObject({ runKey: 'early', definition: 'v1' });
    expect(history.lastDefinition('rotate', 'last', 40n)).toMatchObject({ runKey: 'late', definition: 'v3' });
    expect(history.lastDefinition('rotate', 'first', 5n)).toMatchObject({ runKey: 'stored', definition: 'v0' });
    // A run is never its own predecessor.
    expect(history.lastDefinition('rotate', 'late', 30n)).toMatchObject({ runKey: 'early' });
  });
});

describe('TickHistory over a pass still being saved', () => {
  it("counts the unsaved pass's claims as stored: a trigger or decision reused across the two passes is caught", () => {
    const unsaved = new TickHistory(stored);
    const first = { run_id: 'first', workflow: 'rotate', claims: { trigger_event: 'evt-1', decision_ids: ['dec-1'], definition: 'v1' } };
    unsaved.record(first as unknown as RunVerdict, 10n);
    const next = new TickHistory(stored, unsaved);

    expect(next.runWithTrigger('evt-1', 'replay', 20n)).toBe('first');
    expect(next.runWithDecision('dec-1', 'replay', 20n)).toBe('first');
    expect(next.lastDefinition('rotate', 'replay', 20n)).toMatchObject({ runKey: 'first', definition: 'v1' });
    // The original itself, and a run that started before it, are no replay of it.
    expect(next.runWithTrigger('evt-1', 'first', 10n)).toBeUndefined();
    expect(next.runWithTrigger('evt-1', 'earlier', 5n)).toBeUndefined();
    // Once the pass before is stored, its claims come from the store (here: none).
    next.beforeSaved();
    expect(next.runWithTrigger('evt-1', 'replay', 20n)).toBeUndefined();
  });
});

describe('TickHistory over two passes not saved yet', () => {
  it('sees the claims of both, newest first on a tie, until each is stored', () => {
    const oldest = new TickHistory(stored);
    oldest.record({ run_id: 'first', workflow: 'rotate', claims: { trigger_event: 'evt-1', decision_ids: ['dec-1'], definition: 'v1' } } as unknown as RunVerdict, 10n);
    const middle = new TickHistory(stored, oldest);
    middle.record({ run_id: 'second', workflow: 'rotate', claims: { trigger_event: 'evt-2', decision_ids: [], definition: 'v2' } } as unknown as RunVerdict, 10n);
    const newest = new TickHistory(stored, middle);

    // A replay of the oldest pass's trigger or decision, judged two passes later, is caught.
    expect(newest.runWithTrigger('evt-1', 'replay', 20n)).toBe('first');
    expect(newest.runWithDecision('dec-1', 'replay', 20n)).toBe('first');
    expect(newest.runWithTrigger('evt-2', 'replay', 20n)).toBe('second');
    // Both started at 10: the newer pass wins the tie, as it would were the older one stored.
    expect(newest.lastDefinition('rotate', 'replay', 20n)).toMatchObject({ runKey: 'second', definition: 'v2' });
    // The oldest is stored once the middle pass's save begins: its claims then come from the store (none here).
    middle.beforeSaved();
    expect(newest.runWithTrigger('evt-1', 'replay', 20n)).toBeUndefined();
    expect(newest.runWithTrigger('evt-2', 'replay', 20n)).toBe('second');
  });
});
