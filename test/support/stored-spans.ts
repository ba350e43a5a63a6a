import BetterSqlite3 from 'better-sqlite3';

/** A row of the `spans` table, as the tests read it (body and ids as stored). */
export interface StoredSpan {
  readonly run_key: string | null;
  readonly trace_id: string;
  readonly span_id: string;
  readonly parent_span_id: string;
  readonly name: string;
  readonly body: Buffer;
}

/** Opens the runledger database read-only (never interfering with the writer), runs `read`, closes. */
export function readDb<T>(dbPath: string, read: (db: BetterSqlite3.Database) => T): T {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

export function spansOfTrace(dbPath: string, traceId: string): StoredSpan[] {
  return readDb(dbPath, (db) =>
    db
      .prepare('SELECT run_key, trace_id, span_id, parent_span_id, name, body FROM spans WHERE trace_id = ? ORDER BY name')
      .all(traceId) as StoredSpan[],
  );
}

export function spansNamedLike(dbPath: string, pattern: string): StoredSpan[] {
  return readDb(dbPath, (db) =>
    db
      .prepare('SELECT run_key, trace_id, span_id, parent_span_id, name, body FROM spans WHERE name LIKE ? ORDER BY name')
      .all(pattern) as StoredSpan[],
  );
}

/** Every stored span id (hex), for checking that acknowledged spans survived. */
export function storedSpanIds(dbPath: string): Set<string> {
  return readDb(dbPath, (db) => new Set(db.prepare('SELECT span_id FROM spans').pluck().all() as string[]));
}
