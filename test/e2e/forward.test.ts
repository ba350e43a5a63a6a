import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { decodeSpanFields } from '../../src/otlp/stored-span.js';
import { metricValue } from '../support/metrics.js';
import { OtlpDownstream, splitSpans, type ArrivedSpan, type DownstreamProtocol } from '../support/otlp-downstream.js';
import { encodeExportRequest, newSpanId, newTraceId, type SpanSpec } from '../support/otlp-request.js';
import { RawOtlpClient } from '../support/raw-otlp-client.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { readDb } from '../support/stored-spans.js';

/**
 * Forwarding end to end (issue 15): a real runledger process forwarding to a real OTLP server in the
 * test that serves the trace and logs services, as a Collector's otlp receiver would: grpc-js over
 * OTLP/gRPC, node:http over OTLP/HTTP (protobuf, gzip).
 */

const INVENTORY = {
  identities: [
    { id: 'sa-deployer', type: 'service_account', owner: 'alice', team: 'platform', tier: 'privileged', keys: ['system:serviceaccount:ci:deployer'] },
  ],
};

let processes: RunledgerProcess[] = [];
let downstreams: OtlpDownstream[] = [];
let clients: RawOtlpClient[] = [];

afterEach(async () => {
  for (const c of clients) c.close();
  for (const p of processes) await p.stop('SIGKILL');
  for (const d of downstreams) await d.stop();
  processes = [];
  downstreams = [];
  clients = [];
});

async function downstream(protocol: DownstreamProtocol = 'grpc'): Promise<OtlpDownstream> {
  const d = await new OtlpDownstream(protocol).start();
  downstreams.push(d);
  return d;
}

function forwardConfig(down: OtlpDownstream, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    exporters: {
      otlp: {
        protocol: down.protocol,
        endpoint: down.endpoint,
        tls: { insecure: true },
        poll_interval_ms: 20,
        retry_on_failure: { initial_interval_ms: 50, max_interval_ms: 200 },
        ...extra,
      },
    },
  };
}

async function start(config: Record<string, unknown>, options: { dir?: string; env?: Record<string, string> } = {}): Promise<RunledgerProcess> {
  const p = await startRunledger({ config, ...options });
  processes.push(p);
  return p;
}

function client(p: RunledgerProcess): RawOtlpClient {
  const c = new RawOtlpClient(p.grpcPort);
  clients.push(c);
  return c;
}

async function send(p: RunledgerProcess, body: Buffer): Promise<void> {
  const outcome = await client(p).export(body);
  expect(outcome.code, outcome.details).toBe(grpc.status.OK);
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface StoredRow {
  readonly span_id: string;
  readonly body: Buffer;
  readonly resource: Buffer;
}

function stored(dbPath: string): Map<string, StoredRow> {
  return readDb(dbPath, (db) => {
    const rows = db
      .prepare('SELECT s.span_id, s.body, r.body AS resource FROM spans s JOIN resources r ON r.id = s.resource_id')
      .all() as StoredRow[];
    return new Map(rows.map((r) => [r.span_id, r]));
  });
}

/** The attributes `arrived` carries beyond the `original` bytes it must start with. */
function appended(arrived: ArrivedSpan, original: Buffer): Record<string, unknown> {
  expect(arrived.body.subarray(0, original.length).equals(original)).toBe(true);
  return decodeSpanFields(arrived.body.subarray(original.length), undefined).attributes;
}

// Each test starts one or two runledger processes: on a busy 2-core machine that alone takes seconds.
describe.each(['grpc', 'http/protobuf'] as const)('forwarding to a downstream over %s', { timeout: 90_000 }, (protocol) => {
  it('forwards every span byte-identical apart from runledger.* attributes and redactions, unmatched ones too', async () => {
    const down = await downstream(protocol);
    const dir = mkdtempSync(join(tmpdir(), 'runledger-forward-e2e-'));
    writeFileSync(join(dir, 'identities.yaml'), stringify(INVENTORY));
    const p = await start(
      { ...forwardConfig(down), enrich: { identities_file: join(dir, 'identities.yaml') } },
      { dir, env: { K8S_POD_NAME: 'deployer-7f9c', K8S_NAMESPACE: 'ci' } },
    );
    const traceId = newTraceId();
    const workflow: SpanSpec[] = [
      { name: 'deploy', traceId, spanId: newSpanId(), attributes: { 'nhi.workflow.run.id': 'fwd-1', 'nhi.actor.id': 'system:serviceaccount:ci:deployer' } },
      { name: 'login', traceId, spanId: newSpanId(), attributes: { 'nhi.workflow.run.id': 'fwd-1', password: 'correct horse battery staple' } },
      { name: 'stranger', traceId, spanId: newSpanId(), attributes: { 'nhi.workflow.run.id': 'fwd-1', 'nhi.actor.id': 'nobody-we-know' } },
    ];
    const unmatched: SpanSpec[] = [{ name: 'GET /healthz', spanId: newSpanId(), attributes: { 'http.route': '/healthz' } }];
    const body = encodeExportRequest([{ spans: workflow }, { attributes: { 'service.name': 'web' }, spans: unmatched }]);
    const sent = new Map(splitSpans(body).map((s) => [s.spanId, s]));
    await send(p, body);

    await until(() => down.spans.length >= 4, 'four spans downstream');
    const rows = stored(p.dbPath);
    expect(new Set(down.spans.map((s) => s.spanId))).toEqual(new Set(sent.keys()));
    const arrived = new Map(down.spans.map((s) => [s.spanId, s]));
    const id = (spec: SpanSpec) => spec.spanId!.toString('hex');
    // What the sender sent, plus the inventory's word on the actor.
    expect(appended(arrived.get(id(workflow[0]!))!, sent.get(id(workflow[0]!))!.body)).toEqual({
      'runledger.actor.id': 'sa-deployer',
      'runledger.actor.type': 'service_account',
      'runledger.actor.owner': 'alice',
      'runledger.actor.team': 'platform',
      'runledger.actor.tier': 'privileged',
      'runledger.actor.registered': true,
    });
    expect(appended(arrived.get(id(workflow[2]!))!, sent.get(id(workflow[2]!))!.body)).toEqual({ 'runledger.actor.registered': false });
    expect(arrived.get(id(unmatched[0]!))!.body.equals(sent.get(id(unmatched[0]!))!.body)).toBe(true);
    // The redacted span goes out as stored: the secret erased, nothing else changed.
    const login = arrived.get(id(workflow[1]!))!;
    expect(login.body.equals(rows.get(id(workflow[1]!))!.body)).toBe(true);
    expect(login.body.equals(sent.get(id(workflow[1]!))!.body)).toBe(false);
    expect(login.body.includes('correct horse')).toBe(false);
    expect(decodeSpanFields(login.body, undefined).attributes.password).toMatch(/^redacted:hmac-sha256:[0-9a-f]{32}$/);
    // Resources as stored: the sender's bytes with the pod identity appended.
    for (const span of down.spans) {
      expect(span.resource.equals(rows.get(span.spanId)!.resource)).toBe(true);
      expect(span.resource.subarray(0, sent.get(span.spanId)!.resource.length).equals(sent.get(span.spanId)!.resource)).toBe(true);
      expect(span.resource.includes('deployer-7f9c')).toBe(true);
    }
    await until(async () => (await metricValue(p.httpUrl, 'runledger_forward_sent_total', { signal: 'traces', result: 'sent' })) === 4, 'sent counted');
    // The backlog gauge is measured once a second: it reaches 0 after the sends, not with them.
    await until(async () => (await metricValue(p.httpUrl, 'runledger_forward_backlog_spans')) === 0, 'backlog measured empty');
    if (protocol === 'http/protobuf') {
      // compression: gzip (the default) over HTTP is a gzip body, and the bytes above were read from it.
      expect(down.calls.map((c) => [c.headers['content-type'], c.headers['content-encoding']])).toEqual(
        down.calls.map(() => ['application/x-protobuf', 'gzip']),
      );
    }
  });

  it('exports one verdict log record per sealed run revision', async () => {
    const down = await downstream(protocol);
    const p = await start({ ...forwardConfig(down, { verdicts: true }), runs: { settle_ms: 200 } });
    const traceId = newTraceId();
    const rootId = newSpanId();
    const run = { 'nhi.workflow.run.id': 'fwd-verdict', 'nhi.workflow.name': 'rotate-db-password', 'nhi.workflow.kind': 'secret_rotation' };
    await send(p, encodeExportRequest([{ spans: [{ name: 'rotate', traceId, spanId: rootId, attributes: run }] }]));
    await until(() => down.logRecords.length >= 1, 'the first verdict');
    // A late span amends the run: a second revision, a second record.
    await send(p, encodeExportRequest([{ spans: [{ name: 'late', traceId, spanId: newSpanId(), parentSpanId: rootId, attributes: { 'nhi.change.operation': 'create' } }] }]));
    await until(() => down.logRecords.length >= 2, 'the second verdict');
    await sleep(500); // several polls: no third record may come

    const chain = readDb(p.dbPath, (db) =>
      db.prepare("SELECT seq, revision, record_hash FROM chain WHERE kind = 'revision' ORDER BY seq").all(),
    ) as Array<{ seq: number; revision: number; record_hash: string }>;
    const records = readDb(p.dbPath, (db) =>
      db.prepare("SELECT record FROM run_revisions WHERE run_key = 'fwd-verdict' ORDER BY revision").pluck().all(),
    ) as string[];
    expect(chain).toHaveLength(2);
    expect(down.logRecords).toHaveLength(2);
    down.logRecords.forEach((logRecord, i) => {
      const attributes = Object.fromEntries(
        (logRecord.attributes as Array<{ key: string; value: Record<string, unknown> }>).map((kv) => [kv.key, kv.value]),
      );
      expect(logRecord.eventName).toBe('runledger.run.evaluated');
      expect(Buffer.from(logRecord.traceId as string, 'base64').toString('hex')).toBe(traceId.toString('hex'));
      expect(attributes['runledger.run.id']).toEqual({ stringValue: 'fwd-verdict' });
      expect(attributes['runledger.run.revision']).toEqual({ intValue: String(i + 1) });
      expect(attributes['runledger.chain.seq']).toEqual({ intValue: String(chain[i]!.seq) });
      expect(attributes['runledger.chain.record_hash']).toEqual({ stringValue: chain[i]!.record_hash });
      expect(attributes['runledger.run.workflow']).toEqual({ stringValue: 'rotate-db-password' });
      expect(attributes['runledger.run.kind']).toEqual({ stringValue: 'secret_rotation' });
      // Findings as the stored record has them, each with its control references.
      const revisionRecord = JSON.parse(records[i]!) as { status: string; findings: Array<{ code: string; severity: string; controls: string[] }> };
      expect(attributes['runledger.run.status']).toEqual({ stringValue: revisionRecord.status });
      const strings = (value: unknown) => (value as { arrayValue: { values: Array<{ stringValue: string }> } }).arrayValue.values.map((v) => v.stringValue);
      expect(strings(attributes['runledger.run.finding_codes'])).toEqual([...new Set(revisionRecord.findings.map((f) => f.code))]);
      const findings = (attributes['runledger.run.findings'] as { arrayValue: { values: Array<{ kvlistValue: { values: Array<{ key: string; value: unknown }> } }> } }).arrayValue.values;
      expect(findings.map((f) => Object.fromEntries(f.kvlistValue.values.map((kv) => [kv.key, kv.key === 'controls' ? strings(kv.value) : (kv.value as { stringValue: string }).stringValue])))).toEqual(
        revisionRecord.findings.map((f) => ({ code: f.code, severity: f.severity, controls: f.controls })),
      );
      expect(revisionRecord.findings.length).toBeGreaterThan(0);
    });
    expect(down.calls.filter((c) => c.signal === 'logs').every((c) => c.answer === 'ok')).toBe(true);
  });

  it('loses nothing while the downstream refuses as unavailable for a while, waits as it asks, and sends it all once it recovers', async () => {
    const down = await downstream(protocol);
    let refusing = true;
    // UNAVAILABLE with a RetryInfo of 1 s over gRPC; 503 with Retry-After: 1 over HTTP.
    down.answer = () => (refusing ? { kind: 'refuse', code: grpc.status.UNAVAILABLE, retryDelayMs: 1000 } : { kind: 'ok' });
    const p = await start(forwardConfig(down));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const spans = Array.from({ length: 20 }, (_, j) => ({ name: `r${i}-${j}`, spanId: newSpanId(), attributes: { 'nhi.workflow.run.id': `fwd-down-${i}` } }));
      ids.push(...spans.map((s) => s.spanId.toString('hex')));
      await send(p, encodeExportRequest([{ spans }]));
    }
    await until(() => down.calls.length >= 3, 'refused attempts');
    await until(async () => (await metricValue(p.httpUrl, 'runledger_forward_backlog_spans')) === 100, 'the backlog visible');
    expect(await metricValue(p.httpUrl, 'runledger_forward_sent_total', { signal: 'traces', result: 'retried' })).toBeGreaterThan(0);
    expect(down.spans).toHaveLength(0);

    // The backoff alone would retry within 200 ms: the server's delay was honoured.
    const refused = down.calls.slice(0, 3).map((c) => c.at);
    expect(refused[1]! - refused[0]!).toBeGreaterThanOrEqual(900);
    expect(refused[2]! - refused[1]!).toBeGreaterThanOrEqual(900);

    refusing = false;
    await until(() => down.spans.length >= 100, 'every span downstream');
    expect(new Set(down.spans.map((s) => s.spanId))).toEqual(new Set(ids));
    expect(down.spans).toHaveLength(100);
    await until(async () => (await metricValue(p.httpUrl, 'runledger_forward_backlog_spans')) === 0, 'the backlog drained');
  });
});

describe('forwarding across a crash', { timeout: 90_000 }, () => {
  it('killed with SIGKILL mid-forward and restarted, forwards every stored span at least once and none never stored', async () => {
    const down = await downstream();
    down.holdMs = 150; // a slow downstream: the kill lands with exports in flight and a backlog waiting
    const config = forwardConfig(down, { send_batch_size: 50 });
    const first = await start(config);
    const sentIds = new Set<string>();
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) {
      const spans = Array.from({ length: 50 }, (_, j) => ({ name: `k${i}-${j}`, spanId: newSpanId(), attributes: { 'nhi.workflow.run.id': `fwd-kill-${i % 4}` } }));
      for (const s of spans) sentIds.add(s.spanId.toString('hex'));
      sends.push(client(first).export(encodeExportRequest([{ spans }])));
    }
    await until(() => down.spans.length >= 100, 'forwarding under way');
    await first.stop('SIGKILL');
    await Promise.all(sends); // answered or failed: either way the store says what was kept
    const beforeKill = down.spans.length;

    const second = await start(config, { dir: first.dir });
    const storedIds = new Set(stored(second.dbPath).keys());
    expect(storedIds.size).toBeGreaterThan(0);
    await until(() => [...storedIds].every((id) => down.spanIds().has(id)), 'every stored span downstream', 60_000);
    for (const id of down.spanIds()) {
      expect(sentIds.has(id)).toBe(true);
      expect(storedIds.has(id)).toBe(true);
    }
    expect(beforeKill).toBeLessThan(storedIds.size); // the kill did land mid-forward
    expect(down.calls.every((c) => c.signal === 'traces')).toBe(true);
  });
});
