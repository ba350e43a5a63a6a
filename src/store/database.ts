import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { StorageConfig } from './config.js';
import { MIGRATIONS } from './migrations.js';

export type Database = BetterSqlite3.Database;

/**
 * The size the WAL file is cut back to when the log starts over (journal_size_limit: without it, a file
 * that grew once stays that size on disk), and the most a backlog draining lets it grow to (see
 * restartWalPastLimit).
 */
const WAL_LIMIT_BYTES = 256 * 1024 * 1024;

export interface OpenOptions {
  readonly readonly?: boolean;
}

/** Opens the store in WAL mode and brings its schema up to date (writers only). */
export function openDatabase(config: StorageConfig['sqlite'], options: OpenOptions = {}): Database {
  if (!options.readonly) mkdirSync(dirname(config.path), { recursive: true });
  const db = new BetterSqlite3(config.path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  db.pragma(`busy_timeout = ${config.busy_timeout_ms}`);
  if (options.readonly) {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) throw new Error(`database schema ${version} is newer than this runledger (${MIGRATIONS.length})`);
    return db;
  }
  db.pragma('journal_mode = WAL');
  // WAL + FULL syncs the log at every commit: an acknowledged span survives power loss.
  db.pragma(`synchronous = ${config.synchronous.toUpperCase()}`);
  db.pragma('foreign_keys = ON');
  db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
  migrate(db);
  return db;
}

export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema ${current} is newer than this runledger (${MIGRATIONS.length})`);
  }
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version - 1]!);
      db.pragma(`user_version = ${version}`);
    })();
  }
}

/** A file's size in bytes, 0 when it does not exist (the WAL, between checkpoints that remove it). */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/**
 * Once the WAL file is larger than its journal_size_limit, copies all of it back into the database so
 * that the next commit starts the log over and cuts the file back; returns whether it did. Waits for
 * no one: a reader or writer busy now leaves it for the next call (the copy made meanwhile is kept).
 */
export function restartWalPastLimit(db: Database, busyTimeoutMs: number): boolean {
  const limit = db.pragma('journal_size_limit', { simple: true }) as number;
  if (limit < 0 || fileSize(`${db.name}-wal`) <= limit) return false;
  db.pragma('busy_timeout = 0');
  try {
    const [result] = db.pragma('wal_checkpoint(RESTART)') as Array<{ busy: number }>;
    return result?.busy === 0;
  } finally {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  }
}
