import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { RunledgerError } from '../errors.js';
import type { Database } from './database.js';
import type { WriterTurn } from './writer-turn.js';
import { bodyOf, Column, NUMBER_COLUMNS, type EncodedPart, type IntakeRows } from './intake-rows.js';

/** What forwarding (exporters.otlp) asks of intake: keep pending spans until they were forwarded. */
export interface IntakeForwarding {
  /** Unforwarded pending spans older than this are expired all the same (the forward backlog's bound). */
  readonly maxBacklogAgeMs: number;
}

interface Pending {
  readonly rows: IntakeRows;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** 16 MiB of 4 KiB pages: about 15,000 spans, a fraction of a second of full load. */
const WAL_CHECKPOINT_PAGES = 4096;

/** Bound on the digest → row id caches; they only save lookups, so clearing them is harmless. */
const MAX_CACHED_DIGESTS = 10_000;

/**
 * Durable intake with group commit: batches that arrive while the thread is busy are written in one
 * transaction, and each is acknowledged only after that transaction committed. Runs on the intake
 * writer's thread (intake-worker.ts), so commits and their fsync never hold up OTLP answers.
 */
export class SpanIntake {
  private queue: Pending[] = [];
  private flushScheduled = false;
  private readonly resourceIds = new Map<string, number>();
  private readonly scopeIds = new Map<string, number>();
  private readonly statements;
  private readonly writeAll: (batches: readonly IntakeRows[]) => void;
  /**
   * The id the next span gets. SQLite would give max(id) + 1, reusing the ids of the newest rows once
   * they are deleted (expired, pruned): a span stored later under such an id would sit behind the
   * forward cursor, never forwarded. So ids only grow, past what was forwarded too.
   */
  private nextSpanId: number;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    /** Shared with run history, which writes through another connection (see WriterTurn). */
    private readonly turn?: WriterTurn,
    private readonly forwarding?: IntakeForwarding,
  ) {
    // A group commit writes 1–2 MiB; the default 2 MiB page cache would spill mid-transaction.
    db.pragma('cache_size = -4096');
    // Copy the WAL back into the database after a commit once it holds WAL_CHECKPOINT_PAGES, here:
    // a checkpoint from another connection never caught up with this writer committing back to back,
    // and the WAL grew without bound. (This thread answers no OTLP request itself.)
    db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    // Spans reference resource and scope rows this writer interned in the same transaction; checking
    // that again for every span cost two index lookups per row.
    db.pragma('foreign_keys = OFF');
    this.statements = {
      insertResource: db.prepare('INSERT OR IGNORE INTO resources (digest, body, schema_url) VALUES (?, ?, ?)'),
      selectResource: db.prepare('SELECT id FROM resources WHERE digest = ?').pluck(),
      insertScope: db.prepare('INSERT OR IGNORE INTO scopes (digest, body, schema_url) VALUES (?, ?, ?)'),
      selectScope: db.prepare('SELECT id FROM scopes WHERE digest = ?').pluck(),
      insertSpan: db.prepare(
        `INSERT INTO spans (id, run_key, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns,
           status_code, resource_id, scope_id, body, received_ns, redactions)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      claimTrace: db.prepare('UPDATE spans SET run_key = ? WHERE trace_id = ? AND run_key IS NULL'),
      claimDescendants: db.prepare(
        `WITH RECURSIVE sub(span_id) AS (
           SELECT @root UNION
           SELECT s.span_id FROM spans s JOIN sub ON s.parent_span_id = sub.span_id
           WHERE s.trace_id = @trace AND s.run_key IS NULL
         )
         UPDATE spans SET run_key = @run WHERE trace_id = @trace AND run_key IS NULL AND span_id IN sub`,
      ),
      claimedTraceRoot: db.prepare(
        "SELECT 1 FROM spans WHERE run_key = ? AND trace_id = ? AND parent_span_id = '' LIMIT 1",
      ).pluck(),
      linkTrace: db.prepare('INSERT OR IGNORE INTO trace_runs (trace_id, run_key) VALUES (?, ?)'),
      upsertRun: db.prepare(
        `INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count)
         VALUES (@runKey, 'open', @received, @received, @root, @count)
         ON CONFLICT (run_key) DO UPDATE SET
           state = 'open',
           last_received_ns = excluded.last_received_ns,
           has_root = max(has_root, excluded.has_root),
           span_count = span_count + excluded.span_count`,
      ),
      expirePending: db.prepare('DELETE FROM spans WHERE run_key IS NULL AND received_ns < ?'),
      // Forwarding on: a pending span goes once forwarded, or once it is too old to be forwarded at all.
      expireForwardedPending: db.prepare(
        `DELETE FROM spans WHERE run_key IS NULL AND received_ns < @before
           AND (id <= (SELECT coalesce(max(position), 0) FROM forward_cursors WHERE stream = 'spans') OR received_ns < @unsendable)`,
      ),
    };
    this.nextSpanId =
      (db
        .prepare("SELECT max(coalesce((SELECT max(id) FROM spans), 0), coalesce((SELECT max(position) FROM forward_cursors WHERE stream = 'spans'), 0))")
        .pluck()
        .get() as number) + 1;
    this.writeAll = db.transaction((batches: readonly IntakeRows[]) => {
      for (const rows of batches) this.write(rows);
    });
  }

  /** Resolves once `rows` are committed; rejects with a retryable STORAGE_UNAVAILABLE otherwise. */
  enqueue(rows: IntakeRows): Promise<void> {
    if (rows.count === 0 && rows.claims.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate lets every batch already received join this commit.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything queued; used by the timer and by shutdown. */
  flush(): void {
    this.flushScheduled = false;
    const pending = this.queue;
    if (pending.length === 0) return;
    this.queue = [];
    try {
      const batches = pending.map((p) => p.rows);
      if (this.turn === undefined) this.writeAll(batches);
      else this.turn.write(() => this.writeAll(batches));
    } catch (err) {
      this.logger.error({ err, batches: pending.length }, 'intake commit failed');
      // Rows inserted by the rolled-back transaction are gone: forget their cached ids.
      this.resourceIds.clear();
      this.scopeIds.clear();
      const failure = new RunledgerError('STORAGE_UNAVAILABLE', 'storage is unavailable; retry later', {
        retryable: true,
        cause: err,
      });
      for (const p of pending) p.reject(failure);
      return;
    }
    for (const p of pending) p.resolve();
  }

  /** Copies what the WAL holds into the database without waiting for readers (the timer's share when idle). */
  checkpointWal(): void {
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      this.logger.error({ err }, 'WAL checkpoint failed');
    }
  }

  /** Deletes pending spans received before the cutoff (no run claimed their trace); returns how many. */
  expirePending(receivedBeforeNs: bigint): number {
    if (this.forwarding === undefined) return this.statements.expirePending.run(receivedBeforeNs).changes;
    const unsendable = BigInt(Date.now() - this.forwarding.maxBacklogAgeMs) * 1_000_000n;
    return this.statements.expireForwardedPending.run({ before: receivedBeforeNs, unsendable }).changes;
  }

  private write(rows: IntakeRows): void {
    const { insertSpan, claimTrace, claimDescendants, claimedTraceRoot, linkTrace, upsertRun } = this.statements;
    const received = rows.receivedNs;
    const runs = new Map<string, { count: number; root: boolean }>();
    const traceRuns = new Set<string>();
    const touch = (runKey: string, count: number, root: boolean) => {
      const entry = runs.get(runKey);
      if (entry === undefined) runs.set(runKey, { count, root });
      else {
        entry.count += count;
        entry.root ||= root;
      }
    };
    const resourceIds = rows.resources.map((r) => this.resourceId(r));
    const scopeIds = rows.scopes.map((s) => this.scopeId(s));
    const { numbers, times } = rows;
    for (let i = 0; i < rows.count; i++) {
      const n = i * NUMBER_COLUMNS;
      const runKey = rows.runKeys[i]!;
      const traceId = rows.traceIds[i]!;
      insertSpan.run(
        this.nextSpanId++,
        runKey,
        traceId,
        rows.spanIds[i],
        rows.parentSpanIds[i],
        rows.names[i],
        numbers[n + Column.Kind],
        times[i * 2],
        times[i * 2 + 1],
        numbers[n + Column.StatusCode],
        resourceIds[numbers[n + Column.Resource]!],
        scopeIds[numbers[n + Column.Scope]!],
        bodyOf(rows, i),
        received,
        rows.redactions[i],
      );
      if (runKey !== null) {
        touch(runKey, 1, numbers[n + Column.RootCandidate] === 1);
        const link = `${traceId}\u0000${runKey}`;
        if (!traceRuns.has(link)) {
          traceRuns.add(link);
          linkTrace.run(traceId, runKey);
        }
      }
    }
    for (const { traceId, runKey, rootSpanId } of rows.claims) {
      const claimed =
        rootSpanId === null
          ? claimTrace.run(runKey, traceId).changes
          : claimDescendants.run({ root: rootSpanId, trace: traceId, run: runKey }).changes;
      // A claimed trace root (e.g. the HTTP SERVER span above a workflow span) means the trace ended.
      if (claimed > 0) touch(runKey, claimed, claimedTraceRoot.get(runKey, traceId) !== undefined);
    }
    for (const [runKey, { count, root }] of runs) {
      upsertRun.run({ runKey, received, root: root ? 1 : 0, count });
    }
  }

  private resourceId({ body, schemaUrl }: EncodedPart): number {
    return this.internRow(this.resourceIds, body, schemaUrl, this.statements.insertResource, this.statements.selectResource);
  }

  private scopeId({ body, schemaUrl }: EncodedPart): number {
    return this.internRow(this.scopeIds, body, schemaUrl, this.statements.insertScope, this.statements.selectScope);
  }

  private internRow(
    cache: Map<string, number>,
    body: Uint8Array,
    schemaUrl: string,
    insert: { run: (...args: unknown[]) => unknown },
    select: { get: (...args: unknown[]) => unknown },
  ): number {
    const digest = createHash('sha256').update(body).update('\0').update(schemaUrl).digest();
    const key = digest.toString('base64');
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    insert.run(digest, body, schemaUrl);
    const id = select.get(digest) as number;
    if (cache.size >= MAX_CACHED_DIGESTS) cache.clear();
    cache.set(key, id);
    return id;
  }
}
