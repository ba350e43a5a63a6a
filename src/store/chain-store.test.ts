import { afterEach, describe, expect, it } from 'vitest';
import { createChainFixture, type ChainFixture } from '../../test/support/chain-fixture.js';
import { verifyChain } from '../integrity/verify.js';

const fixtures: ChainFixture[] = [];
afterEach(() => {
  for (const f of fixtures.splice(0)) f.close();
});

describe('ChainStore.head', () => {
  it('chains the next row to the stored head after a save that appended a row was rolled back', () => {
    const f = createChainFixture();
    fixtures.push(f);
    f.addRevision('run-a');
    const stored = f.writer.head();
    expect(() =>
      f.db.transaction(() => {
        f.writer.append('chain_start', { previous_head_seq: 0 }, 1n);
        expect(f.writer.head().seq).toBe(stored.seq + 1);
        throw new Error('the save fails after its append');
      })(),
    ).toThrow('the save fails after its append');

    expect(f.writer.head()).toEqual(stored);
    f.addRevision('run-b');
    expect(f.writer.head().seq).toBe(stored.seq + 1);
    expect(verifyChain(f.chain, { publicKeys: [f.key.publicKey] }).problems).toEqual([]);
  });
});
