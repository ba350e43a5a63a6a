import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { RunledgerError } from '../errors.js';
import type { SpanBatch } from '../pipeline/span-batch.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import { isRootCandidate } from '../runs/root.js';
import type { Database } from './database.js';

interface Pending {
  readonly batch: SpanBatch;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Bound on the digest → row id caches; they only save lookups, so clearing them is harmless. */
const MAX_CACHED_DIGESTS = 10_000;

/**
 * Durable intake with group commit: batches that arrive while the event loop is busy are written in
 * one transaction, and each is acknowledged only after that transaction committed.
 */
export class SpanIntake implements SpanSink {
  private queue: Pending[] = [];
  private flushScheduled = false;
  private readonly resourceIds = new Map<string, number>();
  private readonly scopeIds = new Map<string, number>();
  /** Row ids by decoded object: every span of a request shares its resource and scope objects. */
  private idsByObject = new WeakMap<object, number>();
  private readonly statements;
  private readonly writeAll: (batches: readonly SpanBatch[]) => void;

  constructor(
    private readonly db: Database,
    private readonly next: SpanSink | undefined,
    private readonly logger: Logger,
  ) {
    // A group commit writes several MiB; the default 2 MiB page cache would spill mid-transaction.
    db.pragma('cache_size = -16384');
    // Copying the WAL back into the database (and its fsync) is left to the history worker's
    // connection, so it never runs inside an intake commit on the thread that answers requests.
    db.pragma('wal_autocheckpoint = 0');
    this.statements = {
      insertResource: db.prepare('INSERT OR IGNORE INTO resources (digest, body, schema_url) VALUES (?, ?, ?)'),
      selectResource: db.prepare('SELECT id FROM resources WHERE digest = ?').pluck(),
      insertScope: db.prepare('INSERT OR IGNORE INTO scopes (digest, body, schema_url) VALUES (?, ?, ?)'),
      selectScope: db.prepare('SELECT id FROM scopes WHERE digest = ?').pluck(),
      insertSpan: db.prepare(
        `INSERT INTO spans (run_key, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns,
           status_code, resource_id, scope_id, body, received_ns, redactions)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
    };
    this.writeAll = db.transaction((batches: readonly SpanBatch[]) => {
      for (const batch of batches) this.write(batch);
    });
  }

  consume(batch: SpanBatch): Promise<void> {
    if (batch.spans.length === 0 && batch.claims.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate lets every request already read from the sockets join this commit.
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
      this.writeAll(pending.map((p) => p.batch));
    } catch (err) {
      this.logger.error({ err, batches: pending.length }, 'intake commit failed');
      // Rows inserted by the rolled-back transaction are gone: forget their cached ids.
      this.resourceIds.clear();
      this.scopeIds.clear();
      this.idsByObject = new WeakMap();
      const failure = new RunledgerError('STORAGE_UNAVAILABLE', 'storage is unavailable; retry later', {
        retryable: true,
        cause: err,
      });
      for (const p of pending) p.reject(failure);
      return;
    }
    for (const p of pending) {
      if (this.next === undefined) p.resolve();
      else this.next.consume(p.batch).then(p.resolve, p.reject);
    }
  }

  private write(batch: SpanBatch): void {
    const { insertSpan, claimTrace, claimDescendants, claimedTraceRoot, linkTrace, upsertRun } = this.statements;
    const received = batch.receivedNs;
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
    for (const batchSpan of batch.spans) {
      const { span, resource, scope, runKey } = batchSpan;
      insertSpan.run(
        runKey,
        span.traceId,
        span.spanId,
        span.parentSpanId,
        span.name,
        span.kind,
        span.startNs,
        span.endNs,
        span.statusCode,
        this.rowId(resource, () => this.resourceId(resource.body, resource.schemaUrl)),
        this.rowId(scope, () => this.scopeId(scope.body, scope.schemaUrl)),
        span.body,
        received,
        span.redactions === undefined || span.redactions.length === 0 ? null : JSON.stringify(span.redactions),
      );
      if (runKey !== null) {
        touch(runKey, 1, isRootCandidate(batchSpan));
        const link = `${span.traceId}\u0000${runKey}`;
        if (!traceRuns.has(link)) {
          traceRuns.add(link);
          linkTrace.run(span.traceId, runKey);
        }
      }
    }
    for (const { traceId, runKey, rootSpanId } of batch.claims) {
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

  private rowId(owner: object, intern: () => number): number {
    let id = this.idsByObject.get(owner);
    if (id === undefined) {
      id = intern();
      this.idsByObject.set(owner, id);
    }
    return id;
  }

  private resourceId(body: Uint8Array, schemaUrl: string): number {
    return this.internRow(this.resourceIds, body, schemaUrl, this.statements.insertResource, this.statements.selectResource);
  }

  private scopeId(body: Uint8Array, schemaUrl: string): number {
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
