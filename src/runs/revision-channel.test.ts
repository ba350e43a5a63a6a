import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { recordDigest, revisionPayloadJson } from '../integrity/chain-entry.js';
import { loadOrCreateSigningKey } from '../integrity/signing.js';
import { verifyChain } from '../integrity/verify.js';
import { ChainStore } from '../store/chain-store.js';
import { openDatabase, type Database } from '../store/database.js';
import { WriterTurn } from '../store/writer-turn.js';
import { HistoryWriter, type BatchAppender, type RevisionBatch } from './history-writer.js';
import { AppenderLink, serveAppends } from './revision-channel.js';
import type { PreparedRevision } from './seal.js';

/**
 * Run history's writer with the intake writer's end of the channel on a second connection, as in
 * `serve` (here both ends on one thread: the channel is the same).
 */
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function setUp(intakeQuietMs = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-revision-channel-'));
  const config = parseConfig({
    storage: { sqlite: { path: join(dir, 'runledger.db') } },
    integrity: { signing_key_file: join(dir, 'signing-key.pem') },
    redaction: { hmac_key_file: join(dir, 'redaction-hmac.key') },
  });
  const intakeDb = openDatabase(config.storage.sqlite);
  const historyDb = openDatabase(config.storage.sqlite);
  const channel = new MessageChannel();
  const link = new AppenderLink(channel.port1);
  const appended: number[] = [];
  const counted: BatchAppender = {
    append: (batch) => {
      appended.push(batch.judged.length);
      return link.append(batch);
    },
  };
  const turn = new WriterTurn();
  const writer = new HistoryWriter(historyDb, config, { checkpointWritten: () => undefined, pruned: () => undefined }, pino({ level: 'silent' }), {
    turn,
    idleAppender: counted,
    intakeQuietMs, // 0: intake is idle once a save finds it wrote nothing since the one before
  });
  serveAppends(channel.port2, intakeDb, config);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => {
    link.close();
    channel.port2.close();
    intakeDb.close();
  });
  cleanups.push(() => {
    writer.shutdown();
    historyDb.close();
  });
  const key = loadOrCreateSigningKey(config.integrity.signing_key_file);
  return { intakeDb, historyDb, writer, turn, appended, link, verify: () => verifyChain(new ChainStore(historyDb), { publicKeys: [key.publicKey] }) };
}

/** A batch judging one open run (its index row inserted here, as intake would). */
function judgedRun(db: Database, runKey: string): RevisionBatch {
  db.prepare(`INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count) VALUES (?, 'open', 1, 2, 1, 1)`).run(runKey);
  const claims = { trigger_event: `evt-${runKey}`, decision_ids: [`dec-${runKey}`] };
  const record = JSON.stringify({
    run_id: runKey,
    revision: 1,
    workflow: 'rotate',
    status: 'compliant',
    outcome: 'succeeded',
    started_at: '1970-01-01T00:00:01.000Z',
    claims,
  });
  const prepared: PreparedRevision = {
    runKey,
    revision: 1,
    reason: 'settled',
    evaluatedNs: 5n,
    record,
    chainPayloadJson: revisionPayloadJson({ run_key: runKey, revision: 1, record_sha256: recordDigest(record), spans: [] }),
    summary: {
      workflow: 'rotate',
      kind: null,
      status: 'compliant',
      outcome: 'succeeded',
      actorId: null,
      definition: null,
      startedNs: 1_000_000_000n,
      endedNs: 2_000_000_000n,
      spanCount: 1,
      findingCodes: [],
      claims,
    },
  };
  return { judged: [{ prepared, loadedLastNs: 2n, duplicates: 0 }], unchanged: [] };
}

const kinds = (db: Database) => db.prepare('SELECT kind, run_key FROM chain ORDER BY seq').raw().all() as Array<[string, string | null]>;

describe('HistoryWriter with the intake writer appending while intake is idle', () => {
  it('saves here while intake writes, there once it is idle, and the chain stays one sequence', async () => {
    const { intakeDb, historyDb, writer, turn, appended, verify } = setUp();
    // Nothing is known of intake at first: saved here.
    turn.write(() => 'intake');
    expect((await writer.save(judgedRun(intakeDb, 'a'))).saved).toEqual([{ revision: 1, state: 'evaluated' }]);
    turn.write(() => 'intake');
    await writer.save(judgedRun(intakeDb, 'b'));
    expect(appended).toEqual([]);
    // Intake wrote nothing since the last save: the next batch goes to the intake writer, as do the ones after.
    const idle = await writer.save(judgedRun(intakeDb, 'c'));
    expect(idle.intakeIdle).toBe(true);
    const there = await writer.save(judgedRun(intakeDb, 'd'));
    expect(appended).toEqual([1]);
    expect(there).toEqual({ saved: [{ revision: 1, state: 'evaluated' }], closed: [], intakeIdle: true });
    // Intake wrote again: the save after the one that finds it out is back here.
    turn.write(() => 'intake');
    expect((await writer.save(judgedRun(intakeDb, 'e'))).intakeIdle).toBe(false);
    expect(appended).toEqual([1, 1]);
    await writer.save(judgedRun(intakeDb, 'f'));
    expect(appended).toEqual([1, 1]);

    expect(kinds(historyDb)).toEqual([
      ['chain_start', null],
      ...['a', 'b', 'c', 'd', 'e', 'f'].map((r) => ['revision', r]),
    ]);
    expect(historyDb.prepare('SELECT decision_id FROM decision_ids ORDER BY 1').pluck().all()).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((r) => `dec-${r}`));
    expect(verify()).toMatchObject({ intact: true, revisions_checked: 6 });
  });

  it('keeps saving here until intake has written nothing for intakeQuietMs', async () => {
    const { intakeDb, writer, appended } = setUp(150);
    for (const run of ['a', 'b', 'c']) await writer.save(judgedRun(intakeDb, run));
    expect(appended).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await writer.save(judgedRun(intakeDb, 'd'));
    expect(appended).toEqual([1]);
  });

  it('rejects a batch the intake writer could not append, keeps nothing of it, and saves the next one here', async () => {
    const { intakeDb, historyDb, writer, appended, verify } = setUp();
    await writer.save(judgedRun(intakeDb, 'a'));
    await writer.save(judgedRun(intakeDb, 'b'));
    // Run c has a revision 1 already (a store changed behind runledger's back): appending its second
    // "first" revision breaks a key there, after run d's went in.
    const broken = { judged: [...judgedRun(intakeDb, 'd').judged, ...judgedRun(intakeDb, 'c').judged], unchanged: [] };
    intakeDb
      .prepare("INSERT INTO run_revisions (run_key, revision, evaluated_ns, reason, status, outcome, record) VALUES ('c', 1, 1, 'settled', 'compliant', 'succeeded', '{}')")
      .run();
    await expect(writer.save(broken)).rejects.toThrow(/intake writer failed.*UNIQUE/);
    expect(appended).toEqual([2]);
    expect(kinds(historyDb).map(([, run]) => run)).toEqual([null, 'a', 'b']);

    await writer.save(judgedRun(intakeDb, 'e'));
    expect(appended).toEqual([2]);
    expect(kinds(historyDb).map(([, run]) => run)).toEqual([null, 'a', 'b', 'e']);
    expect(historyDb.prepare("SELECT count(*) FROM run_revisions WHERE run_key = 'd'").pluck().get()).toBe(0);
    intakeDb.prepare("DELETE FROM run_revisions WHERE run_key = 'c'").run(); // the planted row, which verify would flag
    expect(verify()).toMatchObject({ intact: true, revisions_checked: 3 });
  });
});
