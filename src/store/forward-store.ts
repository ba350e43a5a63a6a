import type { Database } from './database.js';

/** The streams forwarding keeps a cursor for: stored spans (spans.id) and sealed revisions (chain.seq). */
export type ForwardStream = 'spans' | 'verdicts';

/** A stored span as forwarding reads it. */
export interface ForwardSpanRow {
  readonly id: number;
  readonly runKey: string | null;
  readonly receivedNs: bigint;
  readonly body: Buffer;
  readonly resourceId: number;
  readonly scopeId: number;
}

/** An encoded resource or scope and its schema URL. */
export interface StoredPart {
  readonly body: Buffer;
  readonly schemaUrl: string;
}

/** A sealed run revision: its chain row and the record (null when retention removed it). */
export interface ForwardVerdictRow {
  readonly seq: number;
  readonly runKey: string;
  readonly revision: number;
  readonly recordHash: string;
  readonly createdNs: bigint;
  readonly record: string | null;
}

const MAX_CACHED_PARTS = 10_000;

/**
 * Forwarding's reads of the intake and the chain, and its cursors. Reads never block the intake writer
 * (WAL); the cursor writes are tiny, and the caller runs them in its turn (see WriterTurn).
 */
export class ForwardStore {
  private readonly stmt;
  private readonly resources = new Map<number, StoredPart>();
  private readonly scopes = new Map<number, StoredPart>();

  constructor(private readonly db: Database) {
    const prepare = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.stmt = {
      position: prepare('SELECT position FROM forward_cursors WHERE stream = ?').pluck(),
      save: prepare(
        `INSERT INTO forward_cursors (stream, position, updated_ns) VALUES (?, ?, ?)
         ON CONFLICT (stream) DO UPDATE SET position = excluded.position, updated_ns = excluded.updated_ns`,
      ),
      spans: prepare('SELECT id, run_key, received_ns, body, resource_id, scope_id FROM spans WHERE id > ? ORDER BY id LIMIT ?'),
      spanHead: prepare('SELECT coalesce(max(id), 0) FROM spans').pluck(),
      firstSpanAfter: prepare('SELECT received_ns FROM spans WHERE id > ? ORDER BY id LIMIT 1').pluck(),
      resource: prepare('SELECT body, schema_url FROM resources WHERE id = ?'),
      scope: prepare('SELECT body, schema_url FROM scopes WHERE id = ?'),
      verdicts: prepare(
        `SELECT c.seq, c.run_key, c.revision, c.record_hash, c.created_ns, r.record
         FROM chain c LEFT JOIN run_revisions r ON r.run_key = c.run_key AND r.revision = c.revision
         WHERE c.seq > ? AND c.kind = 'revision' ORDER BY c.seq LIMIT ?`,
      ),
      chainHead: prepare('SELECT coalesce(max(seq), 0) FROM chain').pluck(),
      verdictBacklog: prepare("SELECT count(*) FROM chain WHERE seq > ? AND kind = 'revision'").pluck(),
      firstVerdictAfter: prepare("SELECT created_ns FROM chain WHERE seq > ? AND kind = 'revision' ORDER BY seq LIMIT 1").pluck(),
    };
  }

  /** The stream's cursor; undefined before forwarding ever ran. */
  position(stream: ForwardStream): number | undefined {
    const value = this.stmt.position.get(stream) as bigint | undefined;
    return value === undefined ? undefined : Number(value);
  }

  savePosition(stream: ForwardStream, position: number, nowNs: bigint): void {
    this.stmt.save.run(stream, position, nowNs);
  }

  /** Where a stream starts when forwarding is first turned on: after everything stored so far. */
  head(stream: ForwardStream): number {
    return Number((stream === 'spans' ? this.stmt.spanHead : this.stmt.chainHead).get() as bigint);
  }

  spansAfter(id: number, limit: number): ForwardSpanRow[] {
    const rows = this.stmt.spans.all(id, limit) as Array<{
      id: bigint;
      run_key: string | null;
      received_ns: bigint;
      body: Buffer;
      resource_id: bigint;
      scope_id: bigint;
    }>;
    return rows.map((r) => ({
      id: Number(r.id),
      runKey: r.run_key,
      receivedNs: r.received_ns,
      body: r.body,
      resourceId: Number(r.resource_id),
      scopeId: Number(r.scope_id),
    }));
  }

  resource(id: number): StoredPart {
    return this.part(this.resources, this.stmt.resource, id);
  }

  scope(id: number): StoredPart {
    return this.part(this.scopes, this.stmt.scope, id);
  }

  verdictsAfter(seq: number, limit: number): ForwardVerdictRow[] {
    const rows = this.stmt.verdicts.all(seq, limit) as Array<{
      seq: bigint;
      run_key: string;
      revision: bigint;
      record_hash: string;
      created_ns: bigint;
      record: string | null;
    }>;
    return rows.map((r) => ({
      seq: Number(r.seq),
      runKey: r.run_key,
      revision: Number(r.revision),
      recordHash: r.record_hash,
      createdNs: r.created_ns,
      record: r.record,
    }));
  }

  /**
   * Items stored after the cursor, and when the oldest of them was stored (undefined: none). Spans are
   * counted by id (ids are dense but for deletions): counting rows would read the whole backlog.
   */
  backlog(stream: ForwardStream, position: number): { items: number; oldestNs: bigint | undefined } {
    if (stream === 'spans') {
      return {
        items: Math.max(0, this.head('spans') - position),
        oldestNs: (this.stmt.firstSpanAfter.get(position) as bigint | undefined) ?? undefined,
      };
    }
    return {
      items: Number(this.stmt.verdictBacklog.get(position) as bigint),
      oldestNs: (this.stmt.firstVerdictAfter.get(position) as bigint | undefined) ?? undefined,
    };
  }

  private part(cache: Map<number, StoredPart>, stmt: { get: (id: number) => unknown }, id: number): StoredPart {
    let part = cache.get(id);
    if (part === undefined) {
      const row = stmt.get(id) as { body: Buffer; schema_url: string } | undefined;
      // Resources and scopes are never deleted; an absent row would be a damaged store.
      part = row === undefined ? { body: Buffer.alloc(0), schemaUrl: '' } : { body: row.body, schemaUrl: row.schema_url };
      if (cache.size >= MAX_CACHED_PARTS) cache.clear();
      cache.set(id, part);
    }
    return part;
  }
}
