import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createChainFixture, ORIGIN, type ChainFixture } from '../../test/support/chain-fixture.js';
import { ChainStore } from '../store/chain-store.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { chainHash, recordDigest } from './chain-entry.js';
import { checkpointBody, loadOrCreateSigningKey, signText } from './signing.js';
import { verifyChain, type VerifyOptions, type VerifyReport } from './verify.js';

const fixtures: ChainFixture[] = [];
afterEach(() => {
  for (const f of fixtures.splice(0)) f.close();
});

const NOW = BigInt(Date.now()) * 1_000_000n;

/** A store as runledger leaves it: a start record, three runs, a signed checkpoint over the head. */
function store(): ChainFixture {
  const f = createChainFixture();
  fixtures.push(f);
  f.chain.recordStart(NOW, 'test');
  f.addRevision('run-a');
  f.addRevision('run-b');
  f.addRevision('run-c');
  f.chain.writeCheckpoint(NOW);
  return f;
}

function verify(f: ChainFixture, options: Partial<VerifyOptions> = {}): VerifyReport {
  return verifyChain(f.chain, { publicKeys: [f.key.publicKey], ...options });
}

const kinds = (report: VerifyReport) => [...new Set(report.problems.map((p) => p.kind))].sort();

interface StoredRow {
  seq: number;
  kind: string;
  created_ns: bigint;
  payload: string;
  prev_hash: string;
  record_hash: string;
}

function chainRow(f: ChainFixture, seq: number): StoredRow {
  return f.db.prepare('SELECT * FROM chain WHERE seq = ?').safeIntegers(true).get(seq) as StoredRow;
}

/** What an attacker with write access but without the key can do: rewrite rows and re-hash from `fromSeq` on. */
function rehashFrom(f: ChainFixture, fromSeq: number): void {
  const rows = f.db.prepare('SELECT * FROM chain WHERE seq >= ? ORDER BY seq').safeIntegers(true).all(fromSeq) as StoredRow[];
  let prev = chainRow(f, fromSeq - 1).record_hash;
  for (const row of rows) {
    const record_hash = chainHash({ ...row, seq: Number(row.seq), kind: row.kind as 'revision', prev_hash: prev });
    f.db.prepare('UPDATE chain SET prev_hash = ?, record_hash = ? WHERE seq = ?').run(prev, record_hash, row.seq);
    prev = record_hash;
  }
}

describe('verifyChain', () => {
  it('reports an untouched chain with its start record, revisions and checkpoint as intact', () => {
    const report = verify(store());
    expect(report).toMatchObject({ intact: true, records_checked: 4, revisions_checked: 3, checkpoints_checked: 1, problems: [] });
    expect(report.head.seq).toBe(4);
  });

  it('reports an edited chain payload as record_altered at its seq', () => {
    const f = store();
    const seq = f.seqOf('run-b');
    const payload = JSON.parse(chainRow(f, seq).payload) as { record_sha256: string };
    payload.record_sha256 = sha256Hex('forged');
    f.db.prepare('UPDATE chain SET payload = ? WHERE seq = ?').run(canonicalJson(payload), seq);
    const report = verify(f);
    expect(report.intact).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'record_altered', seq }));
  });

  it('reports a revision record edited after it was chained as record_altered, naming the run', () => {
    const f = store();
    f.db
      .prepare("UPDATE run_revisions SET record = json_set(record, '$.status', 'violation') WHERE run_key = 'run-a'")
      .run();
    const report = verify(f);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'record_altered', seq: f.seqOf('run-a'), run_id: 'run-a', revision: 1 }),
    ]);
  });

  it('reports a record re-serialised with other spacing: the stored bytes are what is chained', () => {
    const f = store();
    const record = f.db.prepare("SELECT record FROM run_revisions WHERE run_key = 'run-a'").pluck().get() as string;
    f.db.prepare("UPDATE run_revisions SET record = ? WHERE run_key = 'run-a'").run(JSON.stringify(JSON.parse(record), null, 2));
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'record_altered', run_id: 'run-a' })]);
  });

  it('reports a span body edited after it was chained as record_altered', () => {
    const f = store();
    f.db.prepare("UPDATE spans SET body = substr(body, 1, 3) || x'ff' || substr(body, 5) WHERE run_key = 'run-c' AND name = 'step 1'").run();
    const report = verify(f);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'record_altered', run_id: 'run-c', message: expect.stringMatching(/span .* was altered/) })]);
  });

  it('reports a deleted run (revisions and spans) as record_missing', () => {
    const f = store();
    for (const table of ['run_revisions', 'spans', 'runs']) f.db.prepare(`DELETE FROM ${table} WHERE run_key = 'run-b'`).run();
    const report = verify(f);
    expect(kinds(report)).toEqual(['record_missing']);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'record_missing', run_id: 'run-b', seq: f.seqOf('run-b') }));
    // one problem per missing revision: its spans are not listed again
    expect(report.problems).toHaveLength(1);
  });

  it('reports two runs whose records were swapped as reordered', () => {
    const f = store();
    const recordOf = (run: string) => f.db.prepare('SELECT record FROM run_revisions WHERE run_key = ?').pluck().get(run) as string;
    const [a, c] = [recordOf('run-a'), recordOf('run-c')];
    f.db.prepare("UPDATE run_revisions SET record = ? WHERE run_key = 'run-a'").run(c);
    f.db.prepare("UPDATE run_revisions SET record = ? WHERE run_key = 'run-c'").run(a);
    const report = verify(f);
    expect(kinds(report)).toEqual(['reordered']);
    expect(report.problems.map((p) => p.run_id).sort()).toEqual(['run-a', 'run-c']);
  });

  it('reports chain rows deleted in the middle as record_missing from the first missing seq', () => {
    const f = store();
    f.db.prepare('DELETE FROM chain WHERE seq IN (2, 3)').run();
    const report = verify(f);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'record_missing', seq: 2, message: expect.stringContaining('2..3') }));
    expect(report.intact).toBe(false);
  });

  it('reports deleted first rows as record_missing', () => {
    const f = store();
    f.db.prepare('DELETE FROM chain WHERE seq = 1').run();
    expect(verify(f).problems).toContainEqual(expect.objectContaining({ kind: 'record_missing', seq: 1 }));
  });

  it('reports a row re-hashed onto another predecessor as reordered', () => {
    const f = store();
    const row = chainRow(f, 3);
    const prev_hash = chainRow(f, 1).record_hash;
    const record_hash = chainHash({ ...row, seq: 3, kind: 'revision', prev_hash });
    f.db.prepare('UPDATE chain SET prev_hash = ?, record_hash = ? WHERE seq = 3').run(prev_hash, record_hash);
    expect(verify(f).problems).toContainEqual(expect.objectContaining({ kind: 'reordered', seq: 3 }));
  });

  it('catches an attacker who edits a record and re-hashes the chain after it: signed rows and checkpoints no longer match', () => {
    const f = store();
    // a restart after the checkpoint: its signed chain_start row follows the runs
    f.chain.recordStart(NOW + 1n, 'test');
    f.chain.writeCheckpoint(NOW + 1n);
    const seq = f.seqOf('run-a');
    f.db.prepare("UPDATE run_revisions SET record = json_set(record, '$.status', 'violation') WHERE run_key = 'run-a'").run();
    const record = f.db.prepare("SELECT record FROM run_revisions WHERE run_key = 'run-a'").pluck().get() as string;
    const payload = JSON.parse(chainRow(f, seq).payload) as { record_sha256: string };
    payload.record_sha256 = recordDigest(record);
    f.db.prepare('UPDATE chain SET payload = ? WHERE seq = ?').run(canonicalJson(payload), seq);
    rehashFrom(f, seq);
    const report = verify(f);
    expect(kinds(report)).toEqual(['checkpoint_mismatch', 'declared_gap', 'signature_invalid']);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'signature_invalid', seq: 5 }));
    expect(report.problems.filter((p) => p.kind === 'checkpoint_mismatch')).toHaveLength(2);
  });

  it('reports a tail removed after a checkpoint as truncated', () => {
    const f = store();
    const last = f.seqOf('run-c');
    f.db.prepare('DELETE FROM chain WHERE seq = ?').run(last);
    for (const table of ['run_revisions', 'spans', 'runs']) f.db.prepare(`DELETE FROM ${table} WHERE run_key = 'run-c'`).run();
    const report = verify(f);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'truncated', seq: last })]);
    expect(report.head.seq).toBe(last - 1);
  });

  it('reports a checkpoint whose signed text was edited as signature_invalid', () => {
    const f = store();
    const forged = checkpointBody(ORIGIN, 2, chainRow(f, 2).record_hash, new Date().toISOString());
    f.db.prepare('UPDATE checkpoints SET body = ?, size = 2, head_hash = ?').run(forged, chainRow(f, 2).record_hash);
    expect(kinds(verify(f))).toEqual(['signature_invalid']);
  });

  it('reports a checkpoint whose columns differ from its signed text as checkpoint_mismatch', () => {
    const f = store();
    f.db.prepare('UPDATE checkpoints SET head_hash = ?').run(chainRow(f, 2).record_hash);
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'checkpoint_mismatch' })]);
  });

  it('reports a checkpoint re-signed with the correct key over a head the chain does not have as checkpoint_mismatch', () => {
    const f = store();
    const body = checkpointBody(ORIGIN, 4, sha256Hex('elsewhere'), new Date().toISOString());
    f.db.prepare('UPDATE checkpoints SET body = ?, head_hash = ?, signature = ?').run(body, sha256Hex('elsewhere'), signText(f.key, body));
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'checkpoint_mismatch', seq: 4 })]);
  });

  it('reports a checkpoint and signed rows re-signed by an untrusted key as unknown_key', () => {
    const f = store();
    const attacker = loadOrCreateSigningKey(join(f.dir, 'attacker.pem'));
    const cp = f.chain.checkpoints()[0]!;
    f.db.prepare('UPDATE checkpoints SET key_id = ?, signature = ?').run(attacker.keyId, signText(attacker, cp.body));
    f.db.prepare('UPDATE chain SET key_id = ?, signature = ? WHERE seq = 1').run(attacker.keyId, signText(attacker, chainRow(f, 1).record_hash));
    const report = verify(f);
    expect(kinds(report)).toEqual(['unknown_key']);
    expect(report.problems).toHaveLength(2);
  });

  it('trusts only the keys it is given: the right signatures under another key are unknown_key', () => {
    const f = store();
    const other = generateKeyPairSync('ed25519').publicKey;
    const report = verify(f, { publicKeys: [other] });
    expect(report.intact).toBe(false);
    expect(kinds(report)).toEqual(['unknown_key']);
  });

  it('reports a signed kind stripped of its signature as signature_invalid', () => {
    const f = store();
    f.db.prepare('UPDATE chain SET key_id = NULL, signature = NULL WHERE seq = 1').run();
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'signature_invalid', seq: 1, message: expect.stringContaining('not signed') })]);
  });

  it('reports a restart and a key rotation as declared gaps and stays intact with both keys', () => {
    const f = store();
    const newKey = loadOrCreateSigningKey(join(f.dir, 'rotated.pem'));
    const rotated = new ChainStore(f.db, newKey, ORIGIN);
    rotated.recordStart(NOW + 1n, 'test');
    rotated.writeCheckpoint(NOW + 1n);
    const both = verify(f, { publicKeys: [f.key.publicKey, newKey.publicKey] });
    expect(both.intact).toBe(true);
    expect(both.problems.map((p) => [p.kind, p.seq])).toEqual([
      ['declared_gap', 5],
      ['declared_gap', 6],
    ]);
    expect(both.problems[0]!.message).toContain(`from ${f.key.keyId} to ${newKey.keyId}`);
    expect(both.problems[1]!.message).toContain('restarted after record 4');

    const oldOnly = verify(f);
    expect(oldOnly.intact).toBe(false);
    // the rotation row, the restart row, and the checkpoint (which has no seq of its own)
    expect(oldOnly.problems.filter((p) => p.kind === 'unknown_key').map((p) => p.seq)).toEqual([5, 6, undefined]);
  });

  it('starts at fromSeq without calling the earlier rows missing, and still checks the checkpoint', () => {
    const f = store();
    const report = verify(f, { fromSeq: 3 });
    expect(report).toMatchObject({ intact: true, records_checked: 2, revisions_checked: 2, problems: [] });

    f.db.prepare('DELETE FROM chain WHERE seq = 4').run();
    expect(kinds(verify(f, { fromSeq: 3 }))).toEqual(['truncated']);
  });

  it('reads a chain longer than one page', () => {
    const f = createChainFixture();
    fixtures.push(f);
    f.chain.recordStart(NOW, 'test');
    for (let i = 0; i < 1100; i++) f.chain.append('revision', { run_key: `bulk-${i}`, revision: 1, record_sha256: '', spans: [] }, NOW);
    f.db.prepare('DELETE FROM chain WHERE seq = 1050').run();
    const report = verifyChain(f.chain, { publicKeys: [f.key.publicKey] });
    expect(report.records_checked).toBe(1100);
    expect(report.problems.filter((p) => p.kind === 'record_missing' && p.seq === 1050)).toHaveLength(1);
  });

  // Unparseable data is tampering to report, not a reason to abort the walk without a report.
  it('reports a record overwritten with non-JSON as record_altered instead of throwing', () => {
    const f = store();
    f.db.prepare("UPDATE run_revisions SET record = 'not json' WHERE run_key = 'run-b'").run();
    const report = verify(f);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'record_altered', run_id: 'run-b' })]);
  });

  it('reports a chain payload overwritten with non-JSON as record_altered instead of throwing', () => {
    const f = store();
    f.db.prepare("UPDATE chain SET payload = '{' WHERE seq = 3").run();
    const report = verify(f);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'record_altered', seq: 3 }));
  });

  // A run inserted straight into run_revisions is a forged history entry the API and `export` would serve.
  it('reports a run revision that no chain row covers as record_unchained', () => {
    const f = store();
    f.db
      .prepare(
        `INSERT INTO run_revisions (run_key, revision, evaluated_ns, reason, status, outcome, record)
         VALUES ('forged', 1, 1, 'settled', 'compliant', 'complete', '{"run_id":"forged","revision":1}')`,
      )
      .run();
    const report = verify(f);
    expect(report.intact).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'record_unchained', run_id: 'forged', revision: 1 })]);
  });

  it('does not report unchained revisions when starting mid-chain, where their rows were not read', () => {
    const f = store();
    expect(verify(f, { fromSeq: 3 }).problems).toEqual([]);
  });

  // The run columns are not hashed, yet proofFor() selects a run's proof by them: moving them would
  // hide a run's revisions from its evidence bundle.
  it('reports a revision row whose run_key column disagrees with its hashed payload as record_altered', () => {
    const f = store();
    const seq = f.seqOf('run-b');
    f.db.prepare("UPDATE chain SET run_key = 'run-a' WHERE run_key = 'run-b'").run();
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'record_altered', seq })]);
  });
});
