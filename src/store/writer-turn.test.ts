import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { WriterTurn } from './writer-turn.js';

/**
 * Another thread raising one of the turn's flags (cell 0: a history claim, 1: an intake transaction):
 * it says so, holds the flag until told to let go, and marks the moment just before it lowers it.
 */
const HOLDER = `
const { workerData, parentPort } = require('node:worker_threads');
const cells = new Int32Array(workerData.turn);
const control = new Int32Array(workerData.control); // [0] let go when 1, [1] set to 1 just before release
Atomics.add(cells, workerData.cell, 1);
parentPort.postMessage('raised');
Atomics.wait(control, 0, 0);
Atomics.store(control, 1, 1);
Atomics.sub(cells, workerData.cell, 1);
Atomics.notify(cells, workerData.cell);
`;

/** A third thread that tells the holder to let go a little later (the test's own thread is blocked). */
const RELEASER = `
const { workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.control);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
Atomics.store(control, 0, 1);
Atomics.notify(control, 0);
`;

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

/** Raises `cell` from another thread; returns the control cells and a function that starts the release. */
async function heldElsewhere(turn: WriterTurn, cell: number): Promise<{ control: Int32Array; releaseSoon: () => void }> {
  const control = new Int32Array(new SharedArrayBuffer(8));
  const holder = new Worker(HOLDER, { eval: true, workerData: { turn: turn.buffer, control: control.buffer, cell } });
  workers.push(holder);
  await new Promise((resolve) => holder.once('message', resolve));
  const releaseSoon = () => void workers.push(new Worker(RELEASER, { eval: true, workerData: { control: control.buffer } }));
  return { control, releaseSoon };
}

describe('WriterTurn', () => {
  it('lets the intake writer through at once when run history holds no claim', () => {
    const turn = new WriterTurn(undefined, 60_000); // a wait would block the test for a minute
    expect(turn.write(() => 'written')).toBe('written');
  });

  it('holds an intake transaction until the claim of run history ends', async () => {
    const turn = new WriterTurn(undefined, 10_000);
    const { control, releaseSoon } = await heldElsewhere(turn, 0);
    releaseSoon();

    expect(turn.write(() => Atomics.load(control, 1))).toBe(1);
  });

  it('starts a run history transaction once the intake transaction under way ends', async () => {
    const turn = new WriterTurn(undefined, 10_000);
    const { control, releaseSoon } = await heldElsewhere(turn, 1);
    releaseSoon();

    expect(turn.claim(() => Atomics.load(control, 1))).toBe(1);
  });

  it('counts the intake transactions begun, so run history can tell whether intake wrote meanwhile', () => {
    const turn = new WriterTurn(undefined, 20);
    const before = turn.intakeWrites();
    turn.claim(() => 'run history');
    expect(turn.intakeWrites()).toBe(before);
    turn.write(() => 'intake');
    turn.write(() => 'intake');
    expect(turn.intakeWrites()).toBe(before + 2);
  });

  it('gives up waiting after maxWaitMs, so a flag never lowered cannot stop the other thread', () => {
    const turn = new WriterTurn(undefined, 20);
    expect(turn.claim(() => turn.write(() => 'written anyway'))).toBe('written anyway');
  });
});
