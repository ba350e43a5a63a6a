import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeExportRequest, newTraceId, newSpanId } from '../../../test/support/otlp-request.js';
import { OtlpDownstream } from '../../../test/support/otlp-downstream.js';
import { parseInventory, type Inventory } from '../../enrich/inventory.js';
import { decodeIntakeRequest } from '../../otlp/intake-request.js';
import { decodeSpanFields } from '../../otlp/stored-span.js';
import { isRootCandidate } from '../../runs/root.js';
import type { BatchSpan } from '../../pipeline/span-batch.js';
import { openDatabase, type Database } from '../../store/database.js';
import { ForwardStore } from '../../store/forward-store.js';
import { toIntakeRows } from '../../store/intake-rows.js';
import { SpanIntake } from '../../store/span-intake.js';
import { otlpExporterConfigSchema } from './config.js';
import { Forwarder, retryDelayMs, type ForwardResult } from './forwarder.js';
import { OtlpGrpcClient } from './otlp-grpc-client.js';
import { SpanEnricher } from './span-enrichment.js';

const logger = pino({ level: 'silent' });

const INVENTORY = parseInventory(
  { identities: [{ id: 'sa-deployer', type: 'service_account', owner: 'alice', team: 'platform', tier: 'privileged', keys: ['system:serviceaccount:ci:deployer'] }] },
  { source: 'test', revision: 'r1' },
);

interface Harness {
  readonly intake: SpanIntake;
  readonly db: Database;
  readonly forwarder: Forwarder;
  readonly counts: Map<ForwardResult, number>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function downstream(): Promise<OtlpDownstream> {
  const server = await new OtlpDownstream().start();
  cleanups.push(() => server.stop());
  return server;
}

function storePath(): string {
  return join(mkdtempSync(join(tmpdir(), 'runledger-forward-')), 'runledger.db');
}

function open(path: string): Database {
  const db = openDatabase({ path, synchronous: 'normal', busy_timeout_ms: 1000 });
  cleanups.push(() => {
    db.close();
  });
  return db;
}

/** A forwarder over its own connection, as the worker runs it; intake writes through another. */
function harness(path: string, endpoint: string, options: Record<string, unknown> = {}, inventory?: Inventory): Harness {
  const intake = new SpanIntake(open(path), logger);
  const db = open(path);
  const config = otlpExporterConfigSchema.parse({
    endpoint,
    tls: { insecure: true },
    poll_interval_ms: 10,
    retry_on_failure: { initial_interval_ms: 10, max_interval_ms: 20 },
    ...options,
  });
  const counts = new Map<ForwardResult, number>();
  const forwarder = new Forwarder(config, {
    store: new ForwardStore(db),
    exporter: new OtlpGrpcClient({ ...config, endpoint }),
    enricher: new SpanEnricher(['nhi.actor.id'], () => inventory),
    write: (transaction) => db.transaction(transaction)(),
    events: { sent: (_signal, result, n) => counts.set(result, (counts.get(result) ?? 0) + n), backlog: () => undefined },
    logger,
  });
  cleanups.push(() => forwarder.shutdown());
  return { intake, db, forwarder, counts };
}

/** Stores the spans of an encoded request as intake would (runKey null: pending, no workflow). */
async function store(intake: SpanIntake, body: Buffer, runKey: string | null = 'run-1'): Promise<void> {
  const request = decodeIntakeRequest(body);
  const spans: BatchSpan[] = request.resources.flatMap((resource) =>
    resource.scopes.flatMap((scope) => scope.spans.map((span) => ({ span, resource, scope, runKey, rootCandidate: runKey !== null && isRootCandidate(span, true) }))),
  );
  await intake.enqueue(toIntakeRows({ spans, receivedNs: BigInt(Date.now()) * 1_000_000n, claims: [] }));
}

function request(count: number, attributes: Record<string, string> = {}): { body: Buffer; ids: string[] } {
  const traceId = newTraceId();
  const spans = Array.from({ length: count }, (_, i) => ({ name: `s${i}`, traceId, spanId: newSpanId(), attributes }));
  return { body: encodeExportRequest([{ spans }]), ids: spans.map((s) => s.spanId.toString('hex')) };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function storedBodies(db: Database): Map<string, Buffer> {
  const rows = db.prepare('SELECT span_id, body FROM spans').all() as Array<{ span_id: string; body: Buffer }>;
  return new Map(rows.map((r) => [r.span_id, r.body]));
}

describe('Forwarder', () => {
  it('forwards spans stored after it started, each as its stored bytes', async () => {
    const down = await downstream();
    const path = storePath();
    const { intake, db, forwarder } = harness(path, down.endpoint);
    await store(intake, request(3).body); // before forwarding was turned on: not a replay
    await forwarder.start();
    const { body, ids } = request(5);
    await store(intake, body);

    await until(() => down.spans.length >= 5, 'five spans downstream');
    const stored = storedBodies(db);
    expect(down.spans.map((s) => s.spanId).sort()).toEqual([...ids].sort());
    for (const span of down.spans) expect(span.body.equals(stored.get(span.spanId)!)).toBe(true);
  });

  it('appends runledger.actor.* from the inventory and never overwrites a key the sender set', async () => {
    const down = await downstream();
    const { intake, db, forwarder } = harness(storePath(), down.endpoint, {}, INVENTORY);
    await forwarder.start();
    await store(intake, request(1, { 'nhi.actor.id': 'system:serviceaccount:ci:deployer', 'runledger.actor.team': 'sender-says' }).body);
    await store(intake, request(1, { 'nhi.actor.id': 'someone-else' }).body);

    await until(() => down.spans.length >= 2, 'two spans downstream');
    const stored = storedBodies(db);
    const [known, unknown] = ['system:serviceaccount:ci:deployer', 'someone-else'].map(
      (actor) => down.spans.find((s) => decodeSpanFields(s.body, undefined).attributes['nhi.actor.id'] === actor)!,
    );
    for (const span of [known!, unknown!]) {
      const original = stored.get(span.spanId)!;
      expect(span.body.subarray(0, original.length).equals(original)).toBe(true);
    }
    const added = (span: { body: Buffer; spanId: string }) =>
      decodeSpanFields(span.body.subarray(stored.get(span.spanId)!.length), undefined).attributes;
    expect(added(known!)).toEqual({
      'runledger.actor.id': 'sa-deployer',
      'runledger.actor.type': 'service_account',
      'runledger.actor.owner': 'alice',
      'runledger.actor.tier': 'privileged',
      'runledger.actor.registered': true,
    });
    expect(decodeSpanFields(known!.body, undefined).attributes['runledger.actor.team']).toBe('sender-says');
    expect(added(unknown!)).toEqual({ 'runledger.actor.registered': false });
  });

  it('retries a refused export until the downstream accepts, losing and duplicating nothing', async () => {
    const down = await downstream();
    let refusals = 3;
    down.answer = () => (refusals-- > 0 ? { kind: 'refuse', code: grpc.status.UNAVAILABLE } : { kind: 'ok' });
    const { intake, forwarder, counts } = harness(storePath(), down.endpoint);
    await forwarder.start();
    const { body, ids } = request(4);
    await store(intake, body);

    await until(() => counts.get('sent') === 4, 'four spans sent');
    expect(down.calls.map((c) => c.answer)).toEqual(['refuse', 'refuse', 'refuse', 'ok']);
    expect(down.spans.map((s) => s.spanId).sort()).toEqual([...ids].sort());
    expect(counts.get('retried')).toBe(12);
    expect(counts.get('sent')).toBe(4);
  });

  it('counts and skips an export refused as INVALID_ARGUMENT, then goes on', async () => {
    const down = await downstream();
    let first = true;
    down.answer = () => {
      const refuse = first;
      first = false;
      return refuse ? { kind: 'refuse', code: grpc.status.INVALID_ARGUMENT } : { kind: 'ok' };
    };
    const { intake, forwarder, counts } = harness(storePath(), down.endpoint);
    await forwarder.start();
    await store(intake, request(2).body);
    await until(() => counts.get('rejected') === 2, 'the refused export counted');
    const { body, ids } = request(3);
    await store(intake, body);

    await until(() => down.spans.length >= 3, 'the next spans downstream');
    expect(down.spans.map((s) => s.spanId).sort()).toEqual([...ids].sort());
    expect(down.calls.map((c) => c.answer)).toEqual(['refuse', 'ok']);
  });

  it('counts spans the downstream rejected in a partial success, without retrying them', async () => {
    const down = await downstream();
    down.answer = () => ({ kind: 'ok', rejected: 1 });
    const { intake, forwarder, counts } = harness(storePath(), down.endpoint);
    await forwarder.start();
    await store(intake, request(3).body);

    await until(() => counts.get('sent') === 2, 'the accepted spans counted');
    expect(counts.get('rejected')).toBe(1);
    expect(down.calls).toHaveLength(1);
  });

  it('resumes after its saved cursor: a new forwarder sends only what the last one had not', async () => {
    const down = await downstream();
    const path = storePath();
    const first = harness(path, down.endpoint);
    await first.forwarder.start();
    const before = request(2);
    await store(first.intake, before.body);
    await until(() => down.spans.length >= 2, 'the first spans downstream');
    await first.forwarder.shutdown();
    const after = request(3);
    await store(first.intake, after.body);

    const second = harness(path, down.endpoint);
    await second.forwarder.start();
    await until(() => down.spans.length >= 5, 'the later spans downstream');
    await sleep(50); // a few idle polls: nothing more may come
    expect(down.spans.map((s) => s.spanId).sort()).toEqual([...before.ids, ...after.ids].sort());
  });

  it('with forward_unmatched off, sends only spans of a workflow run', async () => {
    const down = await downstream();
    const { intake, forwarder } = harness(storePath(), down.endpoint, { forward_unmatched: false });
    await forwarder.start();
    await store(intake, request(2).body, null);
    const workflow = request(2);
    await store(intake, workflow.body, 'run-7');

    await until(() => down.spans.length >= 2, 'the workflow spans downstream');
    await sleep(50);
    expect(down.spans.map((s) => s.spanId).sort()).toEqual([...workflow.ids].sort());
  });

  it('is safe to shut down before start and twice', async () => {
    const down = await downstream();
    const { forwarder } = harness(storePath(), down.endpoint);
    await forwarder.shutdown();
    await forwarder.shutdown();
    await expect(forwarder.start()).rejects.toThrow(/state stopped/);
  });
});

describe('retryDelayMs', () => {
  const retry = { initial_interval_ms: 100, max_interval_ms: 1000, multiplier: 2, randomization_factor: 0.5 };

  it('grows exponentially up to max_interval_ms, spread by the randomization factor', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 10].map((n) => retryDelayMs(retry, n, undefined, mid))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(retryDelayMs(retry, 1, undefined, () => 0)).toBe(100);
    expect(retryDelayMs(retry, 1, undefined, () => 1)).toBe(300);
  });

  it('uses the delay a server gave in RetryInfo as given', () => {
    expect(retryDelayMs(retry, 0, 2500)).toBe(2500);
    expect(retryDelayMs(retry, 7, 0)).toBe(0);
  });
});
