import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { WriterTurn } from './writer-turn.js';

/** A thread that claims the turn, says so, holds it until told to let go, and marks the release. */
const HOLDER = `
const { workerData, parentPort } = require('node:worker_threads');
const claims = new Int32Array(workerData.turn);
const control = new Int32Array(workerData.control); // [0] let go when 1, [1] set to 1 just before release
Atomics.add(claims, 0, 1);
parentPort.postMessage('claimed');
Atomics.wait(control, 0, 0);
Atomics.store(control, 1, 1);
if (Atomics.sub(claims, 0, 1) === 1) Atomics.notify(claims, 0);
`;

const RELEASER = `
const { workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.control);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
Atomics.store(control, 0, 1);
Atomics.notify(control, 0);
`;

describe('WriterTurn', () => {
  it('lets the intake writer through at once when run history holds no claim', () => {
    const turn = new WriterTurn();
    turn.await(60_000); // would block the test for a minute if it waited
  });

  it('holds the intake writer until the claim of another thread ends', async () => {
    const turn = new WriterTurn();
    const control = new Int32Array(new SharedArrayBuffer(8));
    const holder = new Worker(HOLDER, { eval: true, workerData: { turn: turn.buffer, control: control.buffer } });
    await new Promise((resolve) => holder.once('message', resolve));
    // This thread is about to block: a third thread tells the holder to let go a little later.
    const releaser = new Worker(RELEASER, { eval: true, workerData: { control: control.buffer } });

    turn.await(10_000);

    expect(Atomics.load(control, 1)).toBe(1);
    await Promise.all([holder.terminate(), releaser.terminate()]);
  });

  it('gives up after maxWaitMs, so a claim that is never released cannot stop intake', () => {
    const turn = new WriterTurn();
    let returned = false;
    turn.claim(() => {
      turn.await(20);
      returned = true;
    });
    expect(returned).toBe(true);
  });
});
