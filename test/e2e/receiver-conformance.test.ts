import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { metricValue } from '../support/metrics.js';
import { encodeExportRequest, newSpanId, newTraceId, spanBytesById, type SpanSpec, workflowRequest } from '../support/otlp-request.js';
import { createTransport, type OtlpTransport, type SendOptions, type TransportName, type TransportOutcome } from '../support/otlp-transports.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { spansNamedLike } from '../support/stored-spans.js';
import { holdWriteLock } from '../support/store-lock.js';

/**
 * OTLP conformance (DESIGN §8): ONE table of cases, each run against every transport — OTLP/gRPC,
 * OTLP/HTTP with a protobuf body and OTLP/HTTP with a JSON body — through real processes. A case says
 * what is sent and what it must come to (the abstract answer, partial_success, retry, what is stored);
 * WIRE says how each transport writes that answer.
 */

type Answer = 'ok' | 'malformed' | 'too_large' | 'unauthenticated' | 'overloaded' | 'storage_unavailable';

const WIRE: Record<'grpc' | 'http', Record<Answer, string>> = {
  grpc: {
    ok: 'OK',
    malformed: 'INVALID_ARGUMENT',
    too_large: 'RESOURCE_EXHAUSTED',
    unauthenticated: 'UNAUTHENTICATED',
    overloaded: 'UNAVAILABLE',
    storage_unavailable: 'UNAVAILABLE',
  },
  http: { ok: '200', malformed: '400', too_large: '413', unauthenticated: '401', overloaded: '429', storage_unavailable: '503' },
};

const MIB = 1024 * 1024;
const RETRY_DELAY_MS = 2000;
const TOKEN = `otlp-${randomBytes(24).toString('hex')}`;
const AUTH = `Bearer ${TOKEN}`;

interface Input {
  /** The request in its protobuf encoding (each transport sends it in its own); absent: the transport's malformed bytes. */
  readonly body?: Buffer;
  /** Span ids that must be stored once the request is acknowledged; none may be stored otherwise. */
  readonly storedIds: readonly string[];
}

interface Case {
  readonly title: string;
  readonly input: (prefix: string) => Input;
  readonly options?: SendOptions;
  /** The state the server is put in while the request is sent. */
  readonly condition?: 'storage_locked' | 'overloaded';
  readonly answer: Answer;
  /** partial_success expected on an `ok` answer (absent: the field must not be set). */
  readonly partial?: { readonly rejectedSpans: number; readonly errorMessage: RegExp };
  /** A refusal the client should retry, with the configured delay. */
  readonly retryable?: boolean;
}

const valid = (count: number) => (prefix: string): Input => {
  const { body, spanIds } = workflowRequest(prefix, count);
  return { body, storedIds: spanIds };
};

/** A request whose one attribute is `bytes` long: past any limit, while gzip keeps it tiny. */
const bloated = (bytes: number) => (prefix: string): Input => ({
  body: encodeExportRequest([{ spans: [{ name: `${prefix}-0`, attributes: { 'nhi.workflow.run.id': prefix, padding: 'a'.repeat(bytes) } }] }]),
  storedIds: [],
});

function partiallyInvalid(prefix: string): Input {
  const traceId = newTraceId();
  const now = BigInt(Date.now()) * 1_000_000n;
  const good: SpanSpec[] = [
    { name: `${prefix}-good-1`, traceId, spanId: newSpanId(), attributes: { 'nhi.workflow.run.id': `${prefix}-run` } },
    { name: `${prefix}-good-2`, traceId, spanId: newSpanId() },
  ];
  const bad: SpanSpec[] = [
    { name: `${prefix}-bad-short-trace`, traceId: newSpanId(), spanId: newSpanId() },
    { name: `${prefix}-bad-zero-trace`, traceId: Buffer.alloc(16), spanId: newSpanId() },
    { name: `${prefix}-bad-zero-span`, traceId, spanId: Buffer.alloc(8) },
    { name: `${prefix}-bad-end-before-start`, traceId, spanId: newSpanId(), startNs: now, endNs: now - 1_000_000n },
  ];
  return {
    body: encodeExportRequest([{ spans: [good[0]!, bad[0]!, bad[1]!] }, { attributes: { 'service.name': 'other' }, spans: [bad[2]!, good[1]!, bad[3]!] }]),
    storedIds: good.map((s) => s.spanId!.toString('hex')),
  };
}

const CASES: readonly Case[] = [
  { title: 'a valid request is stored and answered without partial_success', input: valid(5), answer: 'ok' },
  {
    title: 'spans with invalid ids or ending before they start are rejected one by one, the rest stored',
    input: partiallyInvalid,
    answer: 'ok',
    partial: { rejectedSpans: 4, errorMessage: /^4 span\(s\) rejected: .*trace_id must be 16 bytes, got 8/ },
  },
  { title: 'an empty request is a success', input: () => ({ body: Buffer.alloc(0), storedIds: [] }), answer: 'ok' },
  { title: 'a body that does not decode is refused for good', input: () => ({ storedIds: [] }), answer: 'malformed' },
  { title: 'a request over max_recv_msg_size_mib is refused for good', input: bloated(2 * MIB), answer: 'too_large' },
  { title: 'a gzip request is stored', input: valid(3), options: { gzip: true }, answer: 'ok' },
  { title: 'a small gzip body that inflates past the limit is refused for good', input: bloated(3 * MIB), options: { gzip: true }, answer: 'too_large' },
  { title: 'a request without the bearer token is refused', input: valid(1), options: { authorization: undefined }, answer: 'unauthenticated' },
  {
    title: 'a request with a wrong bearer token is refused',
    input: valid(1),
    options: { authorization: 'Bearer not-the-token-0123456789' },
    answer: 'unauthenticated',
  },
  {
    title: 'a request while storage is unavailable is refused as retryable, and its retry stored',
    input: valid(3),
    condition: 'storage_locked',
    answer: 'storage_unavailable',
    retryable: true,
  },
  {
    title: 'a request beyond max_concurrent_requests is refused as retryable, and its retry stored',
    input: valid(2),
    condition: 'overloaded',
    answer: 'overloaded',
    retryable: true,
  },
];

const TRANSPORTS: readonly TransportName[] = ['grpc', 'http/protobuf', 'http/json'];
const familyOf = (name: TransportName) => (name === 'grpc' ? 'grpc' : 'http');

/** Each stored span's body is the exact protobuf encoding of the span sent (JSON included). */
function expectStoredExactly(dbPath: string, prefix: string, body: Buffer, ids: readonly string[]): void {
  const sent = spanBytesById(body);
  const stored = spansNamedLike(dbPath, `${prefix}-%`);
  expect(stored.map((s) => s.span_id).sort()).toEqual([...ids].sort());
  for (const s of stored) expect(Buffer.from(s.body).equals(sent.get(s.span_id)!), `body of ${s.name}`).toBe(true);
}

describe('OTLP conformance: one table of cases against each transport', () => {
  let main: RunledgerProcess;
  /** max_concurrent_requests 1 and a long busy timeout: a request held on the lock stays in flight. */
  let narrow: RunledgerProcess;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-conformance-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const transport = (extra: Record<string, unknown> = {}) => ({
      max_recv_msg_size_mib: 1,
      retry_delay_ms: RETRY_DELAY_MS,
      auth: { bearer_token_file: tokenFile },
      ...extra,
    });
    const config = (extra: Record<string, unknown>, busyTimeoutMs: number) => ({
      receiver: { otlp_grpc: transport(extra), otlp_http: transport(extra) },
      storage: { sqlite: { busy_timeout_ms: busyTimeoutMs } },
      runs: { settle_ms: 50 },
    });
    [main, narrow] = await Promise.all([
      // A busy timeout the storage_locked case waits out, long enough that run history's own saves never
      // make an export give up (at 100 ms one did once, on a machine at load 16).
      startRunledger({ config: config({}, 1000) }),
      startRunledger({ config: config({ max_concurrent_requests: 1 }, 60_000) }),
    ]);
  });

  afterAll(async () => {
    for (const p of [main, narrow]) {
      await p?.stop();
      if (p) rmSync(p.dir, { recursive: true, force: true });
    }
  });

  describe.each(TRANSPORTS)('over %s', (name) => {
    const family = familyOf(name);
    const clients: OtlpTransport[] = [];
    const transportOf = (p: RunledgerProcess) => {
      const client = createTransport(name, p);
      clients.push(client);
      return client;
    };
    afterAll(() => clients.forEach((c) => c.close()));

    let caseNumber = 0;
    it.each(CASES)('$title', async (c) => {
      const prefix = `${name.replace('/', '-')}-${++caseNumber}`;
      const p = c.condition === 'overloaded' ? narrow : main;
      const transport = transportOf(p);
      const input = c.input(prefix);
      const options = { authorization: AUTH, ...c.options };
      const send = () => (input.body === undefined ? transport.exportRaw(transport.malformed, options) : transport.export(input.body, options));

      let outcome: TransportOutcome;
      if (c.condition === undefined) {
        outcome = await send();
      } else {
        const lock = holdWriteLock(p.dbPath);
        try {
          if (c.condition === 'overloaded') {
            // One request held in its commit by the lock fills the only slot; the case's request comes next.
            const holder = workflowRequest(`holder-${prefix}`, 2);
            const received = () => metricValue(p.httpUrl, 'runledger_spans_received_total', { transport: family });
            const before = await received();
            const held = transport.export(holder.body, options);
            await vi.waitFor(async () => expect(await received()).toBe(before + 2), { timeout: 15_000, interval: 25 });
            outcome = await send();
            lock.release();
            expect((await held).wire).toBe(WIRE[family].ok);
            expectStoredExactly(p.dbPath, `holder-${prefix}`, holder.body, holder.spanIds);
          } else {
            outcome = await send();
          }
        } finally {
          lock.release();
        }
      }

      expect(outcome.wire).toBe(WIRE[family][c.answer]);
      if (c.answer === 'ok') {
        expect(outcome.partialSuccess).toEqual(c.partial === undefined ? undefined : { rejectedSpans: c.partial.rejectedSpans, errorMessage: expect.stringMatching(c.partial.errorMessage) });
        expectStoredExactly(p.dbPath, prefix, input.body!, input.storedIds);
        return;
      }
      expect(outcome.message).toMatch(/\S/);
      expect(outcome.retryDelayMs).toBe(c.retryable === true ? RETRY_DELAY_MS : undefined);
      if (family === 'http') expect(outcome.statusRetryDelaysMs).toEqual(c.retryable === true ? [RETRY_DELAY_MS] : []);
      expect(spansNamedLike(p.dbPath, `${prefix}-%`)).toEqual([]);
      if (c.retryable === true) {
        // The same request, retried once the condition passed, is stored.
        expect((await send()).wire).toBe(WIRE[family].ok);
        expectStoredExactly(p.dbPath, prefix, input.body!, input.storedIds);
      }
    });
  });
});
