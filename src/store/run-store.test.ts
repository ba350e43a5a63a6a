import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { showRevision } from '../api/run-record.js';
import { createChainFixture, type ChainFixture } from '../../test/support/chain-fixture.js';
import { evaluateRun } from '../evidence/evaluate.js';
import { resolveFieldKeys, runIdentityKeys } from '../evidence/fields.js';
import { resolveProfiles } from '../evidence/profiles.js';
import { EvidenceReader, stepView } from '../evidence/steps.js';
import { recordDigest } from '../integrity/chain-entry.js';
import { verifyChain } from '../integrity/verify.js';
import { KeySelector } from '../otlp/key-selector.js';
import { Long, Span } from '../otlp/proto.js';
import { RunLoader } from '../runs/run-loader.js';
import { renumbered, sealRevision } from '../runs/seal.js';
import { RunIdentity } from '../runs/run-identity.js';
import { RunQueries } from './run-queries.js';
import { RunStore } from './run-store.js';

const fixtures: ChainFixture[] = [];
afterEach(() => {
  for (const f of fixtures.splice(0)) f.close();
});

const keys = resolveFieldKeys({});
const context = {
  reader: new EvidenceReader(keys),
  profiles: resolveProfiles({}),
  identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)),
  history: { runWithTrigger: () => undefined, runWithDecision: () => undefined, lastDefinition: () => undefined },
};
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const START = 1_795_763_076_139_000_000n;

function addSpan(
  f: ChainFixture,
  runKey: string,
  spanId: string,
  parent: string,
  offsetMs: number,
  attributes: Record<string, string>,
  statusCode = 0,
  trace = TRACE,
): void {
  const start = START + BigInt(offsetMs) * 1_000_000n;
  const body = Span.encode(
    Span.fromObject({
      traceId: Buffer.from(trace, 'hex'),
      spanId: Buffer.from(spanId, 'hex'),
      ...(parent !== '' ? { parentSpanId: Buffer.from(parent, 'hex') } : {}),
      name: `span ${spanId}`,
      startTimeUnixNano: Long.fromString(start.toString(), true),
      endTimeUnixNano: Long.fromString((start + 2_500_000n).toString(), true),
      attributes: Object.entries(attributes).map(([key, value]) => ({ key, value: { stringValue: value } })),
      status: { code: statusCode, message: statusCode === 2 ? 'boom' : '' },
    }),
  ).finish();
  f.db
    .prepare(
      `INSERT INTO spans (run_key, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, resource_id, scope_id, body, received_ns)
       VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, 1, 1, ?, ?)`,
    )
    .run(runKey, trace, spanId, parent, `span ${spanId}`, start, start + 2_500_000n, statusCode, body, START);
}

/** Saves as the ledger does: inside a transaction. */
function inTransaction<T>(f: ChainFixture, save: () => T): T {
  return f.db.transaction(save)();
}

function openRun(f: ChainFixture, runKey: string, lastReceivedNs: bigint): void {
  f.db
    .prepare("INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count) VALUES (?, 'open', ?, ?, 1, 3)")
    .run(runKey, START, lastReceivedNs);
}

describe('RunStore revisions', () => {
  it('saves a revision that reads back as the full steps and verifies', () => {
    const f = createChainFixture();
    fixtures.push(f);
    const root = '1'.repeat(16);
    addSpan(f, 'run-1', root, '', 0, { 'nhi.workflow.run.id': 'run-1', 'nhi.workflow.name': 'rotate' });
    addSpan(f, 'run-1', '2'.repeat(16), root, 1, { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow' });
    addSpan(f, 'run-1', '3'.repeat(16), '2'.repeat(16), 2, { 'nhi.change.operation': 'revoke', 'nhi.change.target': 't' }, 2);
    openRun(f, 'run-1', START);
    const store = new RunStore(f.db, f.writer);
    const input = { runKey: 'run-1', spans: new RunLoader(store).loadRun('run-1').spans };
    const verdict = evaluateRun(input, context);

    const saved = inTransaction(f, () => store.saveRevision(sealRevision(input, verdict, 'settled', START + 1n, 1), START, 0, renumbered));
    expect(saved).toEqual({ revision: 1, state: 'evaluated' });

    const shown = showRevision(new RunQueries(f.db), 'run-1', 1)!;
    expect(shown.steps).toEqual(verdict.steps.map(stepView));
    expect(shown.steps).toMatchObject([
      { span_id: root, parent_span_id: null, root: true, started_at: '2026-11-27T07:04:36.139Z', duration_ms: 2.5, status: 'unset' },
      { parent_span_id: root, type: 'decision' },
      { parent_span_id: '2'.repeat(16), type: 'change', status: 'error', status_message: 'boom', succeeded: false },
    ]);
    const text = new RunQueries(f.db).recordText('run-1', 1)!;
    const row = f.db.prepare("SELECT payload FROM chain WHERE kind = 'revision' AND run_key = 'run-1'").pluck().get() as string;
    expect((JSON.parse(row) as { record_sha256: string }).record_sha256).toBe(recordDigest(text));
    expect(verifyChain(f.chain, { publicKeys: [f.key.publicKey] }).problems).toEqual([]);
  });

  it('numbers revisions from the index row and keeps a run open when a span arrived after its load', () => {
    const f = createChainFixture();
    fixtures.push(f);
    addSpan(f, 'run-2', '4'.repeat(16), '', 0, { 'nhi.workflow.run.id': 'run-2' });
    openRun(f, 'run-2', START + 5n);
    const store = new RunStore(f.db, f.writer);
    const input = { runKey: 'run-2', spans: new RunLoader(store).loadRun('run-2').spans };
    const verdict = evaluateRun(input, context);
    expect(inTransaction(f, () => store.saveRevision(sealRevision(input, verdict, 'settled', START + 10n, 1), START + 5n, 0, renumbered))).toEqual({ revision: 1, state: 'evaluated' });
    expect(inTransaction(f, () => store.saveRevision(sealRevision(input, verdict, 'amended', START + 20n, 2), START, 0, renumbered))).toEqual({ revision: 2, state: 'open' });
    expect(store.runState('run-2')).toMatchObject({ state: 'open', revision: 2 });
    expect(new RunQueries(f.db).revisionRows('run-2').map((r) => r.revision)).toEqual([1, 2]);
  });

  it('serialises again when the revision prepared ahead is not the one the index hands out', () => {
    const f = createChainFixture();
    fixtures.push(f);
    addSpan(f, 'run-3', '5'.repeat(16), '', 0, { 'nhi.workflow.run.id': 'run-3' });
    openRun(f, 'run-3', START);
    const store = new RunStore(f.db, f.writer);
    const input = { runKey: 'run-3', spans: new RunLoader(store).loadRun('run-3').spans };
    const verdict = evaluateRun(input, context);
    const stale = sealRevision(input, verdict, 'settled', START + 1n, 7);
    expect(inTransaction(f, () => store.saveRevision(stale, START, 0, renumbered)).revision).toBe(1);
    const text = new RunQueries(f.db).recordText('run-3', 1)!;
    expect(JSON.parse(text)).toMatchObject({ run_id: 'run-3', revision: 1 });
    expect(text).toBe(sealRevision(input, verdict, 'settled', START + 1n, 1).record);
    expect(verifyChain(f.chain, { publicKeys: [f.key.publicKey] }).problems).toEqual([]);
  });
});

describe('RunLoader.loadRun over the store', () => {
  it('decodes the span attributes judging reads, and all of them without a selection', () => {
    const f = createChainFixture();
    fixtures.push(f);
    addSpan(f, 'run-sel', '00000000000000a1', '', 0, { 'nhi.workflow.run.id': 'run-sel', 'http.request.method': 'GET', 'nhi.change.operation': 'rotate' });
    addSpan(f, 'run-sel', '00000000000000a1', '', 0, { 'nhi.workflow.run.id': 'run-sel' }); // an exporter's resend: read once
    const selected = new RunLoader(new RunStore(f.db, f.writer), new KeySelector(new Set(['nhi.workflow.run.id', 'nhi.change.operation']))).loadRun('run-sel').spans;
    expect(selected).toHaveLength(1);
    expect(selected[0]!.attributes).toEqual({ 'nhi.workflow.run.id': 'run-sel', 'nhi.change.operation': 'rotate' });
    const all = new RunLoader(new RunStore(f.db)).loadRun('run-sel').spans;
    expect(all[0]!.attributes).toEqual({ 'nhi.workflow.run.id': 'run-sel', 'http.request.method': 'GET', 'nhi.change.operation': 'rotate' });
    expect(selected[0]!.digest).toBe(all[0]!.digest);
  });

  it('keeps the first copy stored of a span resent with other content, even when the copy started earlier', () => {
    const f = createChainFixture();
    fixtures.push(f);
    addSpan(f, 'run-copy', '00000000000000b1', '', 0, { 'nhi.workflow.run.id': 'run-copy', 'nhi.policy.decision': 'deny' });
    addSpan(f, 'run-copy', '00000000000000b2', '00000000000000b1', 5, { 'nhi.change.operation': 'rotate' });
    addSpan(f, 'run-copy', '00000000000000b1', '', -60_000, { 'nhi.workflow.run.id': 'run-copy', 'nhi.policy.decision': 'allow' });
    const loaded = new RunLoader(new RunStore(f.db)).loadRun('run-copy');
    expect(loaded.duplicates).toBe(1);
    expect(loaded.spans.map((s) => [s.spanId, s.attributes['nhi.policy.decision']])).toEqual([
      ['00000000000000b1', 'deny'],
      ['00000000000000b2', undefined],
    ]);
    expect(loaded.spans[0]!.startNs).toBe(START);
  });

  it('orders the spans by start, then span id, then the one stored first, whatever order they were stored in', () => {
    const f = createChainFixture();
    fixtures.push(f);
    const otherTrace = '1bf7651916cd43dd8448eb211c80319d';
    addSpan(f, 'run-order', '00000000000000c1', '', 5, {});
    addSpan(f, 'run-order', '00000000000000b2', '', 0, {});
    addSpan(f, 'run-order', '00000000000000a3', '', 0, {}); // same start as b2, stored after it
    addSpan(f, 'run-order', '00000000000000c1', '', 5, {}, 0, otherTrace); // same start and span id as the first, in another trace
    const loaded = new RunLoader(new RunStore(f.db)).loadRun('run-order');
    expect(loaded.duplicates).toBe(0);
    expect(loaded.spans.map((s) => [s.spanId, s.traceId])).toEqual([
      ['00000000000000a3', TRACE],
      ['00000000000000b2', TRACE],
      ['00000000000000c1', TRACE],
      ['00000000000000c1', otherTrace],
    ]);
  });
});

describe('RunStore.spanRows', () => {
  it('reads each span whole, with its redactions, and nothing for a run without spans', () => {
    const f = createChainFixture();
    fixtures.push(f);
    // Stored out of order, with an empty body and a body of every byte value (NUL included) between others.
    const rows = [
      { spanId: 'b'.repeat(16), startNs: START + 2n, body: Buffer.from([0, 1, 2, 0, 255]), redactions: '[{"key":"secret","scope":"span"}]' },
      { spanId: 'a'.repeat(16), startNs: START + 2n, body: Buffer.alloc(0), redactions: null },
      { spanId: 'c'.repeat(16), startNs: START, body: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), redactions: null },
    ];
    const insert = f.db.prepare(
      `INSERT INTO spans (run_key, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, resource_id, scope_id, body, received_ns, redactions)
       VALUES ('run-1', ?, ?, '', 'n', 1, ?, ?, 0, 1, 1, ?, ?, ?)`,
    );
    const ids = rows.map((r) => Number(insert.run(TRACE, r.spanId, r.startNs, r.startNs, r.body, START, r.redactions).lastInsertRowid));
    const store = new RunStore(f.db);

    const read = store.spanRows('run-1').map((r) => ({ ...r, body: [...r.body] }));
    expect(read.sort((a, b) => a.id - b.id)).toEqual([
      { id: ids[0], body: [0, 1, 2, 0, 255], resourceId: 1, scopeId: 1, redactions: [{ key: 'secret', scope: 'span' }] },
      { id: ids[1], body: [], resourceId: 1, scopeId: 1, redactions: null },
      { id: ids[2], body: [...rows[2]!.body], resourceId: 1, scopeId: 1, redactions: null },
    ]);
    expect(store.spanRows('run-2')).toEqual([]);
  });
});

describe('RunStore passes', () => {
  it('reads one snapshot inside snapshot(), while another connection commits', () => {
    const f = createChainFixture();
    fixtures.push(f);
    openRun(f, 'run-snap', START);
    const store = new RunStore(f.db, f.writer);
    const intake = new BetterSqlite3(f.dbPath);
    try {
      const seen = store.snapshot(() => {
        const before = store.runState('run-snap')!.lastReceivedNs;
        intake.prepare('UPDATE runs SET last_received_ns = ? WHERE run_key = ?').run(START + 9n, 'run-snap');
        return [before, store.runState('run-snap')!.lastReceivedNs];
      });
      expect(seen).toEqual([START, START]);
      expect(store.runState('run-snap')!.lastReceivedNs).toBe(START + 9n);
    } finally {
      intake.close();
    }
  });
});
