import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { fileSize, openDatabase, truncateWalOver, type Database } from './database.js';

const dirs: string[] = [];
const open: Database[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A store whose WAL holds ~1 MiB that no checkpoint copied back yet, and a second connection to it. */
function storeWithWal() {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-database-'));
  dirs.push(dir);
  const { sqlite } = parseConfig({ storage: { sqlite: { path: join(dir, 'runledger.db') } } }).storage;
  const db = openDatabase(sqlite);
  const other = openDatabase(sqlite);
  open.push(db, other);
  db.pragma('wal_autocheckpoint = 0');
  other.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE filler (body BLOB)');
  const insert = db.prepare('INSERT INTO filler VALUES (randomblob(4000))');
  db.transaction(() => {
    for (let i = 0; i < 256; i++) insert.run();
  })();
  return { db, other, wal: `${sqlite.path}-wal`, busyTimeoutMs: sqlite.busy_timeout_ms };
}

describe('truncateWalOver', () => {
  it('leaves a WAL within the limit alone', () => {
    const { db, wal } = storeWithWal();
    const before = fileSize(wal);
    expect(before).toBeGreaterThan(1024 * 1024);
    expect(truncateWalOver(db, 2 * before, 5000)).toBe(false);
    expect(fileSize(wal)).toBe(before);
  });

  it('copies a WAL over the limit back into the database and empties it, keeping every row', () => {
    const { db, other, wal, busyTimeoutMs } = storeWithWal();
    expect(truncateWalOver(db, 64 * 1024, busyTimeoutMs)).toBe(true);
    expect(fileSize(wal)).toBe(0);
    expect(other.prepare('SELECT count(*) FROM filler').pluck().get()).toBe(256);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(busyTimeoutMs);
  });

  it('waits for no reader: a read snapshot on the WAL leaves it for a later call', () => {
    const { db, other, wal, busyTimeoutMs } = storeWithWal();
    other.exec('BEGIN');
    expect(other.prepare('SELECT count(*) FROM filler').pluck().get()).toBe(256);
    db.prepare('INSERT INTO filler VALUES (zeroblob(10))').run(); // a frame the snapshot does not see
    const before = fileSize(wal);
    expect(truncateWalOver(db, 64 * 1024, busyTimeoutMs)).toBe(false);
    expect(fileSize(wal)).toBe(before);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(busyTimeoutMs);
    other.exec('COMMIT');
    expect(truncateWalOver(db, 64 * 1024, busyTimeoutMs)).toBe(true);
    expect(fileSize(wal)).toBe(0);
  });
});
