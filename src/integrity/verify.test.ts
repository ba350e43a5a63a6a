import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createChainFixture, ORIGIN, type ChainFixture } from '../../test/support/chain-fixture.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { chainHash, recordDigest } from './chain-entry.js';
import { ChainWriter } from './chain-writer.js';
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
  f.writer.recordStart(NOW, 'test');
  f.addRevision('run-a', { triggerEvent: 'scheduler|evt-1' });
  f.addRevision('run-b', { findings: ['missing_field', 'replayed_trigger'] });
  f.addRevision('run-c');
  f.writer.writeCheckpoint(NOW);
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

  it('reports a run deleted with all its rows as one run_deleted problem', () => {
    const f = store();
    for (const table of ['run_revisions', 'run_findings', 'spans', 'runs']) f.db.prepare(`DELETE FROM ${table} WHERE run_key = 'run-b'`).run();
    const report = verify(f);
    // one problem for the run: its revisions, spans and index rows are not listed again
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'run_deleted', run_id: 'run-b', seq: f.seqOf('run-b') })]);
  });

  it('reports a run whose revision record alone was deleted as record_missing', () => {
    const f = store();
    f.db.prepare("DELETE FROM run_revisions WHERE run_key = 'run-b'").run();
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'record_missing', run_id: 'run-b', seq: f.seqOf('run-b') })]);
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
    f.writer.recordStart(NOW + 1n, 'test');
    f.writer.writeCheckpoint(NOW + 1n);
    const seq = f.seqOf('run-a');
    f.db.prepare("UPDATE run_revisions SET record = json_set(record, '$.status', 'violation') WHERE run_key = 'run-a'").run();
    const record = f.db.prepare("SELECT record FROM run_revisions WHERE run_key = 'run-a'").pluck().get() as string;
    const payload = JSON.parse(chainRow(f, seq).payload) as { record_sha256: string };
    payload.record_sha256 = recordDigest(record);
    f.db.prepare('UPDATE chain SET payload = ? WHERE seq = ?').run(canonicalJson(payload), seq);
    f.db.prepare("UPDATE runs SET status = 'violation' WHERE run_key = 'run-a'").run();
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

  it('reports a checkpoint whose signed text was edited as checkpoint_forged', () => {
    const f = store();
    const forged = checkpointBody(ORIGIN, 2, chainRow(f, 2).record_hash, new Date().toISOString());
    f.db.prepare('UPDATE checkpoints SET body = ?, size = 2, head_hash = ?').run(forged, chainRow(f, 2).record_hash);
    expect(kinds(verify(f))).toEqual(['checkpoint_forged']);
  });

  it('reports a checkpoint added without the key (copied signature) as checkpoint_forged', () => {
    const f = store();
    const cp = f.chain.checkpoints()[0]!;
    const body = checkpointBody(ORIGIN, 3, chainRow(f, 3).record_hash, new Date().toISOString());
    f.db
      .prepare('INSERT INTO checkpoints (size, head_hash, created_ns, origin, key_id, body, signature) VALUES (3, ?, 1, ?, ?, ?, ?)')
      .run(chainRow(f, 3).record_hash, ORIGIN, cp.key_id, body, cp.signature);
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'checkpoint_forged', message: expect.stringContaining('at size 3 has an invalid signature') })]);
  });

  it('reports two chain rows swapped in place as reordered, not altered', () => {
    const f = store();
    const [two, three] = [chainRow(f, 2), chainRow(f, 3)];
    const put = f.db.prepare('UPDATE chain SET kind = ?, run_key = ?, revision = ?, created_ns = ?, payload = ?, prev_hash = ?, record_hash = ? WHERE seq = ?');
    const runOf = (row: StoredRow) => JSON.parse(row.payload) as { run_key: string; revision: number };
    for (const [row, seq] of [[two, 3], [three, 2]] as const) {
      put.run(row.kind, runOf(row).run_key, runOf(row).revision, row.created_ns, row.payload, row.prev_hash, row.record_hash, seq);
    }
    const report = verify(f);
    expect(kinds(report)).toEqual(['reordered']);
    expect(report.problems).toContainEqual(expect.objectContaining({ seq: 2, message: 'chain record 2 (revision) was sealed as record 3' }));
    expect(report.problems).toContainEqual(expect.objectContaining({ seq: 3, message: 'chain record 3 (revision) was sealed as record 2' }));
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

  it('reports a chain without its tail rows as truncated, however many rows are cut', () => {
    const f = store();
    for (const run of ['run-b', 'run-c']) for (const table of ['run_revisions', 'run_findings', 'spans', 'runs']) f.db.prepare(`DELETE FROM ${table} WHERE run_key = ?`).run(run);
    f.db.prepare('DELETE FROM chain WHERE seq >= 3').run();
    const report = verify(f);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'truncated', message: 'a signed checkpoint covers 4 records but the chain ends at 2' })]);
  });

  it('reports a signed kind stripped of its signature as signature_invalid', () => {
    const f = store();
    f.db.prepare('UPDATE chain SET key_id = NULL, signature = NULL WHERE seq = 1').run();
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'signature_invalid', seq: 1, message: expect.stringContaining('not signed') })]);
  });

  it('reports a restart and a key rotation as declared gaps and stays intact with both keys', () => {
    const f = store();
    const newKey = loadOrCreateSigningKey(join(f.dir, 'rotated.pem'));
    const rotated = new ChainWriter(f.chain, newKey, ORIGIN);
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
    f.writer.recordStart(NOW, 'test');
    for (let i = 0; i < 1100; i++) f.writer.append('revision', { run_key: `bulk-${i}`, revision: 1, record_sha256: '', spans: [] }, NOW);
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

// The tables queries read must say what the sealed records say: `runs list --status compliant` reads
// the `runs` index, `--finding` reads run_findings, replay detection reads the claim tables.
describe('verifyChain: the index queries read', () => {
  const mismatches = (report: VerifyReport) => report.problems.filter((p) => p.kind === 'index_mismatch');

  it('reports a run index row flipped from incomplete to compliant as index_mismatch naming the run and field', () => {
    const f = store();
    f.db.prepare("UPDATE runs SET status = 'compliant' WHERE run_key = 'run-b'").run();
    const report = verify(f);
    expect(report.intact).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: 'index_mismatch',
        run_id: 'run-b',
        revision: 1,
        seq: f.seqOf('run-b'),
        message: 'runs row of run run-b says status compliant, its sealed revision 1 says incomplete',
      }),
    ]);
  });

  it.each([
    ['workflow', "'other-workflow'"],
    ['kind', "'jit_access'"],
    ['outcome', "'failed'"],
    ['actor_id', "'someone-else'"],
    ['definition', "'sha256:forged'"],
    ['started_ns', '42'],
  ])('reports an edited %s column of a run index row as index_mismatch', (column, value) => {
    const f = store();
    f.db.prepare(`UPDATE runs SET ${column} = ${value} WHERE run_key = 'run-c'`).run();
    expect(verify(f).problems).toEqual([expect.objectContaining({ kind: 'index_mismatch', run_id: 'run-c', message: expect.stringContaining('runs row of run run-c says') })]);
  });

  it('reports an index row pointing at an older revision, a missing one and an unsealed one', () => {
    const f = store();
    f.addRevision('run-a', { triggerEvent: 'scheduler|evt-1' });
    f.db.prepare("UPDATE runs SET revision = 1 WHERE run_key = 'run-a'").run();
    f.db.prepare("DELETE FROM runs WHERE run_key = 'run-c'").run();
    f.db
      .prepare(
        `INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, revision, status)
         VALUES ('forged', 'evaluated', 1, 1, 1, 'compliant')`,
      )
      .run();
    expect(mismatches(verify(f)).map((p) => [p.run_id, p.message])).toEqual([
      ['run-a', 'runs row of run run-a names revision 1, the latest sealed is 2'],
      ['run-c', 'runs row of run run-c is missing: queries do not list its sealed revision 1'],
      ['forged', 'runs row of run forged (revision 1) has no sealed revision'],
    ]);
  });

  it('leaves an open run (revision 0, not yet judged) out of the comparison', () => {
    const f = store();
    f.db.prepare("INSERT INTO runs (run_key, state, first_received_ns, last_received_ns) VALUES ('still-open', 'open', 1, 1)").run();
    expect(verify(f).problems).toEqual([]);
  });

  it('reports a run_findings row deleted from the latest revision (the run vanishes from --finding) as index_mismatch', () => {
    const f = store();
    f.db.prepare("DELETE FROM run_findings WHERE run_key = 'run-b' AND code = 'replayed_trigger'").run();
    expect(verify(f).problems).toEqual([
      expect.objectContaining({ kind: 'index_mismatch', run_id: 'run-b', message: 'run_findings row (replayed_trigger) of run run-b revision 1 is missing' }),
    ]);
  });

  it('reports a run_findings row added to a revision, or for a run never sealed, as index_mismatch', () => {
    const f = store();
    const add = f.db.prepare('INSERT INTO run_findings (run_key, revision, code, started_ns) VALUES (?, 1, ?, 0)');
    add.run('run-c', 'tool_outside_boundary');
    add.run('nobody', 'ungated_change');
    expect(mismatches(verify(f)).map((p) => p.message)).toEqual([
      'run_findings row (tool_outside_boundary) of run run-c revision 1 is not a finding of that sealed revision',
      'run_findings row (ungated_change) of run nobody revision 1 is not a finding of that sealed revision',
    ]);
  });

  it('keeps the findings of earlier revisions: they are history, checked against their own record', () => {
    const f = store();
    f.addRevision('run-b');
    expect(verify(f).problems).toEqual([]);
    f.db.prepare("UPDATE run_findings SET code = 'definition_drift' WHERE run_key = 'run-b' AND revision = 1 AND code = 'missing_field'").run();
    expect(mismatches(verify(f))).toEqual([expect.objectContaining({ run_id: 'run-b', revision: 1 })]);
  });

  it('reports a deleted replay claim (a replay of it would pass unnoticed) as index_mismatch', () => {
    const f = store();
    f.db.prepare("DELETE FROM trigger_events WHERE run_key = 'run-a'").run();
    expect(verify(f).problems).toEqual([
      expect.objectContaining({ kind: 'index_mismatch', run_id: 'run-a', message: 'trigger claim scheduler|evt-1 of run run-a is missing: a replay of it would go unnoticed' }),
    ]);
  });

  it('reports a claim moved to another run, or backdated to make another run the replay, as index_mismatch', () => {
    const f = store();
    f.db.prepare("UPDATE trigger_events SET run_key = 'run-c' WHERE run_key = 'run-a'").run();
    expect(mismatches(verify(f)).map((p) => p.run_id)).toEqual(['run-c', 'run-a']);

    const g = store();
    g.db.prepare("UPDATE trigger_events SET claimed_ns = 1 WHERE run_key = 'run-a'").run();
    expect(verify(g).problems).toEqual([expect.objectContaining({ kind: 'index_mismatch', run_id: 'run-a', message: expect.stringContaining('when no sealed revision started') })]);
  });

  it('reports a decision claim forged for a sealed run as index_mismatch', () => {
    const f = store();
    f.db.prepare("INSERT INTO decision_ids (decision_id, run_key, claimed_ns) VALUES ('approval-7', 'run-c', 0)").run();
    expect(verify(f).problems).toEqual([
      expect.objectContaining({ kind: 'index_mismatch', run_id: 'run-c', message: 'decision claim approval-7 of run run-c is in no sealed revision of that run' }),
    ]);
  });

  it('does not compare the index when starting mid-chain, where not every revision was read', () => {
    const f = store();
    f.db.prepare("UPDATE runs SET status = 'violation' WHERE run_key = 'run-a'").run();
    expect(verify(f, { fromSeq: 3 }).problems).toEqual([]);
  });
});
