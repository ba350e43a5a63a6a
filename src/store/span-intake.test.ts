import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RunledgerError } from '../errors.js';
import type { IntakeResource, IntakeScope, IntakeSpan } from '../otlp/intake-request.js';
import { isRootCandidate } from '../runs/root.js';
import type { BatchSpan, SpanBatch } from '../pipeline/span-batch.js';
import type { StorageConfig } from './config.js';
import { migrate, openDatabase, type Database } from './database.js';
import { MIGRATIONS } from './migrations.js';
import { ChainStore } from './chain-store.js';
import { SpanIntake } from './span-intake.js';
import { toIntakeRows, type IntakeRows } from './intake-rows.js';

const logger = pino({ level: 'silent' });
const TRACE_A = 'aa'.repeat(16);
const TRACE_B = 'bb'.repeat(16);
/** A batch whose span name SQLite cannot bind: writing it throws inside the transaction. */
function unbindable(): IntakeRows {
  return { ...batchOf([{ id: '9' }]), names: [Symbol('not a string') as unknown as string] };
}

/** Connections opened by a test, closed after it so the temp files are released. */
const opened: BetterSqlite3.Database[] = [];

afterEach(() => {
  for (const db of opened.splice(0)) if (db.open) db.close();
});

function sqliteConfig(overrides: Partial<StorageConfig['sqlite']> = {}): StorageConfig['sqlite'] {
  const path = join(mkdtempSync(join(tmpdir(), 'runledger-intake-')), 'runledger.db');
  return { path, synchronous: 'normal', busy_timeout_ms: 1000, ...overrides };
}

function open(config: StorageConfig['sqlite']): Database {
  const db = openDatabase(config);
  opened.push(db);
  return db;
}

/** A second connection, as a CLI reader or backup would open one. */
function reader(path: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  opened.push(db);
  return db;
}

function count(db: BetterSqlite3.Database, sql: string, ...params: unknown[]): number {
  return Number(db.prepare(sql).pluck().get(...params));
}

function makeResource(name: string, schemaUrl = ''): IntakeResource {
  return { body: Buffer.from(`resource:${name}`), attributes: { 'service.name': name }, schemaUrl, scopes: [] };
}

function makeScope(name: string): IntakeScope {
  return { body: Buffer.from(`scope:${name}`), schemaUrl: '', spans: [] };
}

const RESOURCE = makeResource('deployer');
const SCOPE = makeScope('runledger-test');

interface SpanSpec {
  trace?: string;
  id: string;
  runKey?: string | null;
  resource?: IntakeResource;
  scope?: IntakeScope;
  startNs?: bigint;
}

function batchSpan(spec: SpanSpec): BatchSpan {
  const span: IntakeSpan = {
    traceId: spec.trace ?? TRACE_A,
    spanId: spec.id.padStart(16, '0'),
    parentSpanId: '',
    name: `span ${spec.id}`,
    kind: 1,
    startNs: spec.startNs ?? 1_000n,
    endNs: (spec.startNs ?? 1_000n) + 10n,
    statusCode: 0,
    statusMessage: '',
    attributes: {},
    body: Buffer.from(`span-body:${spec.id}`),
  };
  const runKey = spec.runKey === undefined ? 'run-1' : spec.runKey;
  return { span, resource: spec.resource ?? RESOURCE, scope: spec.scope ?? SCOPE, runKey, rootCandidate: runKey !== null && isRootCandidate(span, true) };
}

function batchOf(specs: SpanSpec[], claims: Array<[string, string]> = []): IntakeRows {
  const batch: SpanBatch = {
    spans: specs.map(batchSpan),
    receivedNs: 5_000n,
    claims: claims.map(([traceId, runKey]) => ({ traceId, runKey, rootSpanId: null })),
  };
  return toIntakeRows(batch);
}

describe('SpanIntake', () => {
  it('commits the spans before consume() resolves', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);

    await intake.enqueue(batchOf([{ id: '1' }, { id: '2' }]));

    expect(count(reader(config.path), 'SELECT count(*) FROM spans')).toBe(2);
  });

  it('stores the routing fields, the exact span bytes and nanosecond times without rounding', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);

    await intake.enqueue(batchOf([{ id: '1', startNs: 1764000000123456789n }]));

    const row = reader(config.path).prepare('SELECT * FROM spans').get() as Record<string, unknown>;
    expect(row).toMatchObject({
      run_key: 'run-1',
      trace_id: TRACE_A,
      span_id: '0000000000000001',
      parent_span_id: '',
      name: 'span 1',
      start_ns: 1764000000123456789n,
      end_ns: 1764000000123456799n,
      received_ns: 5_000n,
    });
    expect(Buffer.from(row.body as Uint8Array).toString()).toBe('span-body:1');
  });

  it('writes consume() calls made in the same tick in one transaction', async () => {
    const config = sqliteConfig();
    open(config); // creates the schema
    // A connection of our own, so every statement SQLite runs, BEGIN and COMMIT included, is seen.
    const statements: string[] = [];
    const db = new BetterSqlite3(config.path, { verbose: (sql) => statements.push(String(sql)) });
    opened.push(db);
    db.pragma('foreign_keys = ON');
    migrate(db);
    const intake = new SpanIntake(db, logger);
    statements.length = 0;

    await Promise.all([
      intake.enqueue(batchOf([{ id: '1' }])),
      intake.enqueue(batchOf([{ id: '2' }])),
      intake.enqueue(batchOf([{ id: '3' }], [[TRACE_A, 'run-1']])),
    ]);

    expect(statements.filter((s) => /^BEGIN/i.test(s))).toHaveLength(1);
    expect(statements.filter((s) => /^COMMIT/i.test(s))).toHaveLength(1);
    expect(count(reader(config.path), 'SELECT count(*) FROM spans')).toBe(3);

    // Control: calls in separate ticks commit separately.
    statements.length = 0;
    await intake.enqueue(batchOf([{ id: '4' }]));
    await intake.enqueue(batchOf([{ id: '5' }]));
    expect(statements.filter((s) => /^BEGIN/i.test(s))).toHaveLength(2);
  });

  it('commits what is queued when flush() is called, without waiting for the next tick', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);

    const consumed = intake.enqueue(batchOf([{ id: '1' }]));
    intake.flush();

    expect(count(reader(config.path), 'SELECT count(*) FROM spans')).toBe(1);
    await consumed;
  });

  it('resolves an empty batch without writing', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);

    await intake.enqueue(batchOf([]));

    expect(count(reader(config.path), 'SELECT count(*) FROM spans')).toBe(0);
  });

  it('keeps a span an exporter resent as a second row, and the run reads the first copy once', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);

    await intake.enqueue(batchOf([{ id: '1' }]));
    await intake.enqueue(batchOf([{ id: '1' }]));

    const db = reader(config.path);
    // No unique index on random ids (it would make every commit write megabytes): resends are read once.
    expect(count(db, 'SELECT count(*) FROM spans')).toBe(2);
    const bodies = new ChainStore(db).spanBodies('run-1');
    expect(bodies.size).toBe(1);
    const first = db.prepare('SELECT body FROM spans ORDER BY id LIMIT 1').pluck().get() as Buffer;
    expect(Buffer.from([...bodies.values()][0]!)).toEqual(first);
  });

  it('stores spans with the same span id in different traces separately', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);

    await intake.enqueue(batchOf([{ id: '1', trace: TRACE_A }, { id: '1', trace: TRACE_B }]));

    expect(count(reader(config.path), 'SELECT count(*) FROM spans')).toBe(2);
  });

  it('moves pending spans of a claimed trace into the run', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);
    await intake.enqueue(batchOf([{ id: '2', runKey: null }, { id: '3', runKey: null }, { id: '9', trace: TRACE_B, runKey: null }]));

    await intake.enqueue(batchOf([{ id: '1', runKey: 'run-42' }], [[TRACE_A, 'run-42']]));

    const db = reader(config.path);
    expect(count(db, "SELECT count(*) FROM spans WHERE trace_id = ? AND run_key = 'run-42'", TRACE_A)).toBe(3);
    // Another trace's pending spans stay pending.
    expect(count(db, 'SELECT count(*) FROM spans WHERE trace_id = ? AND run_key IS NULL', TRACE_B)).toBe(1);
  });

  it('does not move spans that already belong to a run when their trace is claimed', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);
    await intake.enqueue(batchOf([{ id: '1', runKey: 'run-first' }]));

    await intake.enqueue(batchOf([], [[TRACE_A, 'run-second']]));

    expect(reader(config.path).prepare('SELECT run_key FROM spans').pluck().get()).toBe('run-first');
  });

  it('stores each resource and scope once, however many spans and batches share them', async () => {
    const config = sqliteConfig();
    const db = open(config);
    const other = makeResource('other');
    await new SpanIntake(db, logger).enqueue(
      batchOf([{ id: '1' }, { id: '2' }, { id: '3', resource: other }, { id: '4', scope: makeScope('other') }]),
    );
    // A new intake has a cold cache: it must find the existing rows, not add copies.
    await new SpanIntake(db, logger).enqueue(batchOf([{ id: '5' }, { id: '6', resource: other }]));

    const r = reader(config.path);
    expect(count(r, 'SELECT count(*) FROM resources')).toBe(2);
    expect(count(r, 'SELECT count(*) FROM scopes')).toBe(2);
    expect(
      count(r, 'SELECT count(*) FROM spans s JOIN resources r ON r.id = s.resource_id WHERE r.body = ?', RESOURCE.body),
    ).toBe(4);
  });

  it('keeps resources with the same bytes but different schema urls apart', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);

    await intake.enqueue(
      batchOf([
        { id: '1', resource: makeResource('svc', 'https://opentelemetry.io/schemas/1.29.0') },
        { id: '2', resource: makeResource('svc', 'https://opentelemetry.io/schemas/1.30.0') },
      ]),
    );

    expect(count(reader(config.path), 'SELECT count(*) FROM resources')).toBe(2);
  });

  it('rejects with a retryable STORAGE_UNAVAILABLE when the commit fails, and stores on a later consume', async () => {
    const config = sqliteConfig({ busy_timeout_ms: 10 });
    const intake = new SpanIntake(open(config), logger);
    const blocker = new BetterSqlite3(config.path);
    opened.push(blocker);
    blocker.exec('BEGIN IMMEDIATE');

    const failed = intake.enqueue(batchOf([{ id: '1', resource: makeResource('first') }]));

    await expect(failed).rejects.toBeInstanceOf(RunledgerError);
    await expect(failed).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });

    blocker.exec('ROLLBACK');
    await intake.enqueue(batchOf([{ id: '1', resource: makeResource('first') }, { id: '2', resource: makeResource('second') }]));

    const r = reader(config.path);
    expect(count(r, 'SELECT count(*) FROM resources')).toBe(2);
    expect(count(r, 'SELECT count(*) FROM spans s JOIN resources r ON r.id = s.resource_id')).toBe(2);
  });

  it('rejects every batch of a group commit that failed, since none of them was stored', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);
    // A value SQLite cannot bind makes the whole transaction roll back.
    const bad = unbindable();

    const results = await Promise.allSettled([intake.enqueue(batchOf([{ id: '1' }])), intake.enqueue(bad)]);

    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(count(reader(config.path), 'SELECT count(*) FROM spans')).toBe(0);
  });

  it('forgets resource and scope ids inserted by a rolled-back commit', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);
    const fresh = makeResource('fresh');
    const freshScope = makeScope('fresh');
    const bad = unbindable();
    // The first batch inserts (and caches) new resource and scope rows; the second makes the commit fail.
    await Promise.allSettled([intake.enqueue(batchOf([{ id: '1', resource: fresh, scope: freshScope }])), intake.enqueue(bad)]);

    await intake.enqueue(batchOf([{ id: '1', resource: fresh, scope: freshScope }]));

    const r = reader(config.path);
    expect(
      count(
        r,
        'SELECT count(*) FROM spans s JOIN resources r ON r.id = s.resource_id JOIN scopes c ON c.id = s.scope_id WHERE r.body = ? AND c.body = ?',
        fresh.body,
        freshScope.body,
      ),
    ).toBe(1);
  });
});

describe('SpanIntake with forwarding', () => {
  const pendingBatch = (ids: string[], receivedNs: bigint): IntakeRows => ({ ...batchOf(ids.map((id) => ({ id, runKey: null }))), receivedNs });
  const ids = (db: BetterSqlite3.Database) => db.prepare('SELECT span_id FROM spans ORDER BY id').pluck().all() as string[];

  it('never gives a span the id of a deleted newer one, nor one at or below the forward cursor', async () => {
    const config = sqliteConfig();
    const db = open(config);
    await new SpanIntake(db, logger).enqueue(batchOf([{ id: '1' }, { id: '2' }]));
    db.prepare("INSERT INTO forward_cursors (stream, position, updated_ns) VALUES ('spans', 2, 0)").run();
    db.prepare('DELETE FROM spans').run(); // the newest rows went (expired, pruned)

    await new SpanIntake(db, logger).enqueue(batchOf([{ id: '3' }]));

    expect(count(reader(config.path), 'SELECT id FROM spans')).toBe(3);
  });

  it('keeps pending spans until forwarded, or until they are older than the backlog bound', async () => {
    const config = sqliteConfig();
    const db = open(config);
    const intake = new SpanIntake(db, logger, undefined, { maxBacklogAgeMs: 60_000 });
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    await intake.enqueue(pendingBatch(['1', '2'], nowNs - 1_000_000n)); // ids 1, 2
    await intake.enqueue(pendingBatch(['3'], nowNs - 120_000n * 1_000_000n)); // id 3, past the bound
    db.prepare("INSERT INTO forward_cursors (stream, position, updated_ns) VALUES ('spans', 1, 0)").run();

    expect(intake.expirePending(nowNs)).toBe(2);
    expect(ids(reader(config.path))).toEqual(['0000000000000002']);
  });

  it('without forwarding expires every pending span past the cutoff', async () => {
    const config = sqliteConfig();
    const intake = new SpanIntake(open(config), logger);
    await intake.enqueue(pendingBatch(['1', '2'], 5n));

    expect(intake.expirePending(10n)).toBe(2);
  });
});

describe('openDatabase', () => {
  it('applies every migration and records it in user_version', () => {
    const db = open(sqliteConfig());

    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('re-opens an existing store without changing its schema or data', async () => {
    const config = sqliteConfig();
    const first = open(config);
    await new SpanIntake(first, logger).enqueue(batchOf([{ id: '1' }]));
    const schema = first.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all();
    first.close();

    const again = open(config);

    expect(again.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(again.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all()).toEqual(schema);
    expect(count(again, 'SELECT count(*) FROM spans')).toBe(1);
  });

  it('creates the directory of the database file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-intake-'));
    const db = open({ path: join(dir, 'nested', 'deeper', 'runledger.db'), synchronous: 'full', busy_timeout_ms: 100 });

    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
  });

  it('refuses a store whose schema is newer than this runledger', () => {
    const config = sqliteConfig();
    open(config).pragma(`user_version = ${MIGRATIONS.length + 1}`);

    expect(() => open(config)).toThrow(/newer than this runledger/);
  });
});
