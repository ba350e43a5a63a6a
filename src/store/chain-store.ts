import type { Database } from './database.js';

export type ChainKind = 'revision' | 'chain_start' | 'key_rotation' | 'prune';

/** One row of the hash chain, as stored (integrity/chain-writer.ts hashes and signs it). */
export interface ChainRow {
  readonly seq: number;
  readonly kind: ChainKind;
  readonly run_key: string | null;
  readonly revision: number | null;
  readonly created_ns: bigint;
  /** Canonical JSON of the payload. */
  readonly payload: string;
  readonly prev_hash: string;
  readonly record_hash: string;
  readonly key_id: string | null;
  readonly signature: string | null;
}

export interface CheckpointRow {
  readonly id: number;
  readonly size: number;
  readonly head_hash: string;
  readonly created_ns: bigint;
  readonly origin: string;
  readonly key_id: string;
  readonly body: string;
  readonly signature: string;
}

/** What `verify` reads; implemented over SQLite here, so the walker itself holds no SQL. */
export interface ChainReader {
  rows(fromSeq: number): Iterable<ChainRow>;
  revisionRecord(runKey: string, revision: number): string | undefined;
  /** The stored bytes of a run's spans by "trace_id/span_id" (the first copy of each). */
  spanBodies(runKey: string): ReadonlyMap<string, Uint8Array>;
  /** Every stored run revision, to find any that no chain row covers. */
  revisionKeys(): Iterable<readonly [string, number]>;
  checkpoints(): CheckpointRow[];
  /** The `runs` index rows of evaluated runs, by run key. */
  runIndex(): ReadonlyMap<string, RunIndexRow>;
  findingRows(): Iterable<FindingRow>;
  /** Trigger events and decision ids runs claimed (what replay detection reads). */
  claimRows(): Iterable<ClaimRow>;
}

/** The columns of a `runs` row that queries filter and sort on. */
export interface RunIndexRow {
  readonly run_key: string;
  readonly revision: number;
  readonly workflow: string | null;
  readonly kind: string | null;
  readonly status: string | null;
  readonly outcome: string | null;
  readonly actor_id: string | null;
  readonly definition: string | null;
  readonly started_ns: bigint | null;
}

export interface FindingRow {
  readonly run_key: string;
  readonly revision: number;
  readonly code: string;
}

export interface ClaimRow {
  readonly claim: 'trigger' | 'decision';
  readonly key: string;
  readonly run_key: string;
  readonly claimed_ns: bigint;
}

interface RawChainRow extends Omit<ChainRow, 'seq' | 'revision'> {
  seq: bigint;
  revision: bigint | null;
}

/**
 * The rows of the hash chain and its signed checkpoints (DESIGN §7), SQL only: ChainWriter
 * (integrity/) hashes and signs what it appends here, inside the caller's transaction.
 */
export class ChainStore implements ChainReader {
  private readonly stmt;
  /** The row this store inserted last (see head). */
  private appended: { seq: number; hash: string } | undefined;

  constructor(private readonly db: Database) {
    const prepare = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.stmt = {
      head: prepare('SELECT seq, record_hash FROM chain ORDER BY seq DESC LIMIT 1'),
      headSeq: prepare('SELECT seq FROM chain ORDER BY seq DESC LIMIT 1').pluck(),
      insert: prepare(
        `INSERT INTO chain (seq, kind, run_key, revision, created_ns, payload, prev_hash, record_hash, key_id, signature)
         VALUES (@seq, @kind, @run_key, @revision, @created_ns, @payload, @prev_hash, @record_hash, @key_id, @signature)`,
      ),
      rows: prepare('SELECT * FROM chain WHERE seq >= ? ORDER BY seq LIMIT 1000'),
      record: prepare('SELECT record FROM run_revisions WHERE run_key = ? AND revision = ?').pluck(),
      runSpans: prepare('SELECT trace_id, span_id, body FROM spans WHERE run_key = ? ORDER BY id'),
      lastCheckpoint: prepare('SELECT size FROM checkpoints ORDER BY id DESC LIMIT 1').pluck(),
      insertCheckpoint: prepare(
        `INSERT INTO checkpoints (size, head_hash, created_ns, origin, key_id, body, signature)
         VALUES (@size, @head_hash, @created_ns, @origin, @key_id, @body, @signature)`,
      ),
      checkpoints: prepare('SELECT * FROM checkpoints ORDER BY id'),
      revisionRows: prepare("SELECT * FROM chain WHERE run_key = ? AND kind = 'revision' ORDER BY seq"),
      rowsBetween: prepare('SELECT * FROM chain WHERE seq BETWEEN ? AND ? ORDER BY seq'),
      checkpointCovering: prepare('SELECT * FROM checkpoints WHERE size >= ? ORDER BY size LIMIT 1'),
      latestCheckpoint: prepare('SELECT * FROM checkpoints ORDER BY id DESC LIMIT 1'),
      lastKeyId: prepare("SELECT key_id FROM chain WHERE kind IN ('chain_start', 'key_rotation') ORDER BY seq DESC LIMIT 1").pluck(),
    };
  }

  /**
   * The last row's seq and hash; undefined while the chain is empty. When it is the row this store
   * inserted last, the hash is not read again: record_hash sits behind the payload (KiBs, often on
   * overflow pages), a read per save. A save rolled back leaves a smaller last seq, and the row is read
   * in full.
   */
  head(): { seq: number; hash: string } | undefined {
    const seq = this.stmt.headSeq.get() as bigint | undefined;
    if (seq === undefined) return undefined;
    if (this.appended !== undefined && Number(seq) === this.appended.seq) return this.appended;
    const row = this.stmt.head.get() as { seq: bigint; record_hash: string };
    return { seq: Number(row.seq), hash: row.record_hash };
  }

  /** Inserts a row, hashed (and signed) by the caller; call inside a transaction. */
  insert(row: ChainRow): void {
    this.stmt.insert.run(row);
    this.appended = { seq: row.seq, hash: row.record_hash };
  }

  /** The key that signed the last start or rotation row. */
  lastKeyId(): string | null | undefined {
    return this.stmt.lastKeyId.get() as string | null | undefined;
  }

  /** The chain size the last checkpoint covers. */
  lastCheckpointSize(): number | undefined {
    const size = this.stmt.lastCheckpoint.get() as bigint | undefined;
    return size === undefined ? undefined : Number(size);
  }

  insertCheckpoint(checkpoint: Omit<CheckpointRow, 'id'>): void {
    this.stmt.insertCheckpoint.run(checkpoint);
  }

  /** Runs `fn` in one transaction (nested in the caller's when there is one). */
  inTransaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Rows in seq order, read a page at a time so other reads can run between pages. */
  *rows(fromSeq: number): Iterable<ChainRow> {
    let next = fromSeq;
    for (;;) {
      const page = this.stmt.rows.all(next) as RawChainRow[];
      for (const raw of page) yield toRow(raw);
      if (page.length < 1000) return;
      next = Number(page[page.length - 1]!.seq) + 1;
    }
  }

  revisionRecord(runKey: string, revision: number): string | undefined {
    return (this.stmt.record.get(runKey, revision) as string | undefined) ?? undefined;
  }

  *revisionKeys(): Iterable<readonly [string, number]> {
    const rows = this.db.prepare('SELECT run_key, revision FROM run_revisions').raw().all() as Array<[string, number]>;
    yield* rows;
  }

  spanBodies(runKey: string): ReadonlyMap<string, Uint8Array> {
    const bodies = new Map<string, Uint8Array>();
    for (const row of this.stmt.runSpans.all(runKey) as Array<{ trace_id: string; span_id: string; body: Buffer }>) {
      const id = `${row.trace_id}/${row.span_id}`;
      if (!bodies.has(id)) bodies.set(id, row.body);
    }
    return bodies;
  }

  /** The chain rows of a run's revisions, oldest first. */
  revisionRowsOf(runKey: string): ChainRow[] {
    return (this.stmt.revisionRows.all(runKey) as RawChainRow[]).map(toRow);
  }

  /**
   * What an auditor needs to check one run offline: its revision rows, every row from the first of
   * them to the first signed checkpoint at or after the last, and that checkpoint.
   */
  proofFor(runKey: string): { revisions: ChainRow[]; path: ChainRow[]; checkpoint: CheckpointRow | null } {
    const revisions = this.revisionRowsOf(runKey);
    if (revisions.length === 0) return { revisions, path: [], checkpoint: null };
    const first = revisions[0]!.seq;
    const last = revisions[revisions.length - 1]!.seq;
    const cp = this.stmt.checkpointCovering.get(last) as RawCheckpointRow | undefined;
    const checkpoint = cp === undefined ? null : toCheckpoint(cp);
    const path = (this.stmt.rowsBetween.all(first, checkpoint?.size ?? last) as RawChainRow[]).map(toRow);
    return { revisions, path, checkpoint };
  }

  runIndex(): ReadonlyMap<string, RunIndexRow> {
    const rows = this.db
      .prepare('SELECT run_key, revision, workflow, kind, status, outcome, actor_id, definition, started_ns FROM runs WHERE revision > 0')
      .safeIntegers(true)
      .all() as Array<RunIndexRow & { revision: bigint }>;
    return new Map(rows.map((r) => [r.run_key, { ...r, revision: Number(r.revision) }]));
  }

  *findingRows(): Iterable<FindingRow> {
    for (const r of this.db.prepare('SELECT run_key, revision, code FROM run_findings').iterate() as IterableIterator<FindingRow>) yield r;
  }

  *claimRows(): Iterable<ClaimRow> {
    yield* this.db
      .prepare(
        `SELECT 'trigger' AS claim, event_key AS key, run_key, claimed_ns FROM trigger_events
         UNION ALL SELECT 'decision', decision_id, run_key, claimed_ns FROM decision_ids`,
      )
      .safeIntegers(true)
      .iterate() as IterableIterator<ClaimRow>;
  }

  checkpoints(): CheckpointRow[] {
    return (this.stmt.checkpoints.all() as RawCheckpointRow[]).map(toCheckpoint);
  }

  /** The newest signed checkpoint; it covers every record up to its size. */
  latestCheckpoint(): CheckpointRow | null {
    const raw = this.stmt.latestCheckpoint.get() as RawCheckpointRow | undefined;
    return raw === undefined ? null : toCheckpoint(raw);
  }
}

type RawCheckpointRow = Omit<CheckpointRow, 'id' | 'size'> & { id: bigint; size: bigint };

function toCheckpoint(raw: RawCheckpointRow): CheckpointRow {
  return { ...raw, id: Number(raw.id), size: Number(raw.size) };
}

function toRow(raw: RawChainRow): ChainRow {
  return { ...raw, seq: Number(raw.seq), revision: raw.revision === null ? null : Number(raw.revision) };
}
