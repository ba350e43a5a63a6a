import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { openDatabase, type Database } from '../store/database.js';
import { WriterTurn } from '../store/writer-turn.js';
import { HistoryWriter, type RevisionBatch } from './history-writer.js';

const dirs: string[] = [];
const writers: Array<{ writer: HistoryWriter; db: Database }> = [];
afterEach(() => {
  for (const { writer, db } of writers.splice(0)) {
    writer.shutdown();
    db.close();
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setUp(turn?: WriterTurn) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-history-writer-'));
  dirs.push(dir);
  const config = parseConfig({
    storage: { sqlite: { path: join(dir, 'runledger.db') } },
    integrity: { signing_key_file: join(dir, 'signing-key.pem') },
    redaction: { hmac_key_file: join(dir, 'redaction-hmac.key') },
  });
  const db = openDatabase(config.storage.sqlite);
  const checkpoints: number[] = [];
  const events = { checkpointWritten: (atMs: number) => checkpoints.push(atMs), pruned: () => undefined };
  const writer = new HistoryWriter(db, config, events, pino({ level: 'silent' }), { turn });
  writers.push({ writer, db });
  return { db, writer, checkpoints };
}

const EMPTY: RevisionBatch = { judged: [], unchanged: [] };

describe('HistoryWriter', () => {
  it('records its start in the chain and signs it; stopping signs nothing new when the head did not move', () => {
    const { db, writer, checkpoints } = setUp();
    expect(db.prepare('SELECT kind FROM chain ORDER BY seq').pluck().all()).toEqual(['chain_start']);
    expect(checkpoints).toHaveLength(1);
    expect(db.prepare('SELECT size FROM checkpoints').pluck().all()).toEqual([1]);
    writer.shutdown();
    expect(checkpoints).toHaveLength(1);
  });

  it('tells whether intake began a transaction between two saves, so judging knows whether an OTLP answer waits on it', async () => {
    const turn = new WriterTurn();
    const { writer } = setUp(turn);
    await writer.save(EMPTY);
    expect((await writer.save(EMPTY)).intakeIdle).toBe(true);
    turn.write(() => 'intake');
    expect((await writer.save(EMPTY)).intakeIdle).toBe(false);
    expect((await writer.save(EMPTY)).intakeIdle).toBe(true);
  });
});
