import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical.js';
import { chainHash, chainHashOfCanonical, revisionPayloadJson, type RevisionPayload } from './chain-entry.js';

const payloads: RevisionPayload[] = [
  { run_key: 'run-1', revision: 1, record_sha256: 'ab'.repeat(32), spans: [['1'.repeat(32), '2'.repeat(16), 'cd'.repeat(32)], ['3'.repeat(32), '4'.repeat(16), 'ef'.repeat(32)]] },
  { run_key: 'quote " back\\slash \u0001 \u2028 ünïcode 😀', revision: 12, record_sha256: '', spans: [] },
];

describe('chain entries', () => {
  it('writes a revision payload exactly as the generic canonicaliser does', () => {
    for (const p of payloads) expect(revisionPayloadJson(p)).toBe(canonicalJson(p));
  });

  it('hashes a canonical payload text to the same record_hash as chainHash', () => {
    for (const p of payloads) {
      const row = { seq: 42, kind: 'revision' as const, created_ns: 1_795_763_076_139_000_123n, payload: revisionPayloadJson(p), prev_hash: 'f'.repeat(64) };
      expect(chainHashOfCanonical(row)).toBe(chainHash(row));
    }
    const start = { seq: 1, kind: 'chain_start' as const, created_ns: 0n, payload: canonicalJson({ previous_head_seq: 0, b: [1, 'x'] }), prev_hash: '0'.repeat(64) };
    expect(chainHashOfCanonical(start)).toBe(chainHash(start));
  });

  it('refuses a run key the canonical form cannot hold, as before', () => {
    const p = { ...payloads[0]!, run_key: 'lone \ud800 surrogate' };
    expect(() => canonicalJson(p)).toThrow();
    expect(() => revisionPayloadJson(p)).toThrow();
  });
});
