import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { fileSize, openDatabase, restartWalPastLimit, type Database } from './database.js';

const dirs: string[] = [];
const open: Database[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const LIMIT = 64 * 1024;

/** The storage settings of a new store in a directory of its own. */
function newStore() {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-database-'));
  dirs.push(dir);
  return parseConfig({ storage: { sqlite: { path: join(dir, 'runledger.db') } } }).storage.sqlite;
}

/** A store whose WAL holds ~1 MiB no checkpoint copied back, over a journal_size_limit of 64 KiB, and a second connection to it. */
function storeWithLongWal() {
  const sqlite = newStore();
  const db = openDatabase(sqlite);
  const other = openDatabase(sqlite);
  open.push(db, other);
  for (const c of [db, other]) {
    c.pragma('wal_autocheckpoint = 0');
    c.pragma(`journal_size_limit = ${LIMIT}`);
  }
  db.exec('CREATE TABLE filler (body BLOB)');
  const insert = db.prepare('INSERT INTO filler VALUES (randomblob(4000))');
  db.transaction(() => {
    for (let i = 0; i < 256; i++) insert.run();
  })();
  const wal = `${sqlite.path}-wal`;
  expect(fileSize(wal)).toBeGreaterThan(1024 * 1024);
  return { db, other, wal, busyTimeoutMs: sqlite.busy_timeout_ms };
}

describe('openDatabase', () => {
  it('cuts the WAL file back when the log starts over, so a file that grew once does not stay that size', () => {
    const db = openDatabase(newStore());
    open.push(db);
    expect(db.pragma('journal_size_limit', { simple: true })).toBe(256 * 1024 * 1024);
  });
});

describe('restartWalPastLimit', () => {
  it('leaves a WAL within the limit alone', () => {
    const { db, wal, busyTimeoutMs } = storeWithLongWal();
    db.pragma('journal_size_limit = -1');
    const before = fileSize(wal);
    expect(restartWalPastLimit(db, busyTimeoutMs)).toBe(false);
    db.pragma(`journal_size_limit = ${2 * before}`);
    expect(restartWalPastLimit(db, busyTimeoutMs)).toBe(false);
    expect(fileSize(wal)).toBe(before);
  });

  it('copies a WAL past the limit back, so the next commit starts it over and cuts the file back, keeping every row', () => {
    const { db, other, wal, busyTimeoutMs } = storeWithLongWal();
    expect(restartWalPastLimit(db, busyTimeoutMs)).toBe(true);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(busyTimeoutMs);
    other.prepare('INSERT INTO filler VALUES (zeroblob(10))').run();
    expect(fileSize(wal)).toBeLessThanOrEqual(LIMIT);
    expect(db.prepare('SELECT count(*) FROM filler').pluck().get()).toBe(257);
  });

  it('waits for no reader: a read snapshot on the WAL leaves it for a later call', () => {
    const { db, other, wal, busyTimeoutMs } = storeWithLongWal();
    other.exec('BEGIN');
    expect(other.prepare('SELECT count(*) FROM filler').pluck().get()).toBe(256);
    db.prepare('INSERT INTO filler VALUES (zeroblob(10))').run(); // a frame the snapshot does not see
    expect(restartWalPastLimit(db, busyTimeoutMs)).toBe(false);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(busyTimeoutMs);
    db.prepare('INSERT INTO filler VALUES (zeroblob(10))').run();
    expect(fileSize(wal)).toBeGreaterThan(1024 * 1024);
    other.exec('COMMIT');
    expect(restartWalPastLimit(db, busyTimeoutMs)).toBe(true);
    db.prepare('INSERT INTO filler VALUES (zeroblob(10))').run();
    expect(fileSize(wal)).toBeLessThanOrEqual(LIMIT);
  });
});
