import BetterSqlite3 from 'better-sqlite3';

/**
 * Another connection holding SQLite's write lock (as a backup or a CLI writer could): the server's
 * intake commit waits busy_timeout_ms and then fails (storage unavailable) — or, with a long timeout,
 * stays in flight until released.
 */
export function holdWriteLock(dbPath: string): { release(): void } {
  const db = new BetterSqlite3(dbPath);
  db.exec('BEGIN IMMEDIATE');
  return {
    release: () => {
      if (db.inTransaction) db.exec('ROLLBACK');
      if (db.open) db.close();
    },
  };
}
