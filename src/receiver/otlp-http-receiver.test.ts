import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RunledgerError } from '../errors.js';
import { ExportTraceServiceRequest, ExportTraceServiceResponse, RpcStatus } from '../otlp/proto.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import { createMetrics } from '../telemetry/metrics.js';
import { receiverConfigSchema, type OtlpTransportConfig } from './config.js';
import { OtlpHttpReceiver } from './otlp-http-receiver.js';
import { FailingSink, GatedSink, RecordingSink } from '../../test/support/sinks.js';

const logger = pino({ level: 'silent' });
const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

let nextSpanId = 1;

function span(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: Buffer.alloc(16, 0xab),
    spanId: Buffer.from((nextSpanId++).toString(16).padStart(16, '0'), 'hex'),
    name: 'deploy',
    startTimeUnixNano: '1764000000000000000',
    endTimeUnixNano: '1764000001000000000',
    ...overrides,
  };
}

function request(...spans: Array<Record<string, unknown>>): Buffer {
  const message = ExportTraceServiceRequest.fromObject({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function post(
  port: number,
  body: Uint8Array | string,
  { contentType = PROTOBUF, headers = {}, method = 'POST', path = '/v1/traces' }: { contentType?: string; headers?: Record<string, string>; method?: string; path?: string } = {},
): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'content-type': contentType, ...headers },
    ...(method === 'GET' ? {} : { body: typeof body === 'string' ? body : Buffer.from(body) }),
  });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

const rpcStatus = (body: Buffer) => RpcStatus.toObject(RpcStatus.decode(body)) as { code?: number; message?: string; details?: unknown[] };

const receivers: OtlpHttpReceiver[] = [];
const gates: GatedSink[] = [];

afterEach(async () => {
  for (const gate of gates.splice(0)) gate.release();
  await Promise.all(receivers.splice(0).map((r) => r.shutdown()));
});

function config(overrides: Partial<OtlpTransportConfig> = {}): OtlpTransportConfig {
  return receiverConfigSchema.parse({ otlp_http: { endpoint: '127.0.0.1:0', ...overrides } }).otlp_http;
}

async function startReceiver(sink: SpanSink, overrides: Partial<OtlpTransportConfig> = {}) {
  const metrics = createMetrics();
  const receiver = new OtlpHttpReceiver(config(overrides), sink, { logger, metrics });
  receivers.push(receiver);
  await receiver.start();
  return { receiver, port: receiver.port, metrics };
}

function gatedSink(): GatedSink {
  const gate = new GatedSink();
  gates.push(gate);
  return gate;
}

describe('OtlpHttpReceiver', () => {
  it('can be shut down before it was started', async () => {
    const receiver = new OtlpHttpReceiver(config(), new RecordingSink(), { logger, metrics: createMetrics() });

    await expect(receiver.shutdown()).resolves.toBeUndefined();
    expect(receiver.listening).toBe(false);
  });

  it('can be shut down twice, and twice at once', async () => {
    const { receiver } = await startReceiver(new RecordingSink());
    expect(receiver.listening).toBe(true);

    await expect(Promise.all([receiver.shutdown(), receiver.shutdown()])).resolves.toEqual([undefined, undefined]);
    await receiver.shutdown();

    expect(receiver.listening).toBe(false);
  });

  it('answers protobuf success with an empty ExportTraceServiceResponse once the sink resolved', async () => {
    const sink = new RecordingSink();
    const { port, metrics } = await startReceiver(sink);

    const answer = await post(port, request(span({ name: 'a' }), span({ name: 'b' })));

    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe(PROTOBUF);
    expect(answer.body).toHaveLength(0);
    expect(sink.last.spans.map((s) => s.span.name)).toEqual(['a', 'b']);
    expect((await metrics.spansReceived.get()).values).toEqual([expect.objectContaining({ labels: { transport: 'http' }, value: 2 })]);
  });

  it('answers JSON with JSON, and rejects invalid spans one by one with partial_success', async () => {
    const sink = new RecordingSink();
    const { port, metrics } = await startReceiver(sink);
    const body = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                { traceId: 'ab'.repeat(16), spanId: '01'.repeat(8), name: 'good', startTimeUnixNano: '1', endTimeUnixNano: '2' },
                { traceId: 'ab'.repeat(8), spanId: '02'.repeat(8), name: 'short-trace', startTimeUnixNano: '1', endTimeUnixNano: '2' },
              ],
            },
          ],
        },
      ],
    };

    const answer = await post(port, JSON.stringify(body), { contentType: 'application/json; charset=utf-8' });

    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe(JSON_TYPE);
    expect(JSON.parse(answer.body.toString())).toEqual({
      partialSuccess: { rejectedSpans: '1', errorMessage: '1 span(s) rejected: trace_id must be 16 bytes, got 8' },
    });
    expect(sink.last.spans.map((s) => s.span.name)).toEqual(['good']);
    expect((await metrics.spansRejected.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'invalid_span', transport: 'http' }, value: 1 }),
    ]);
    expect((await metrics.ingestDuration.get()).values).toContainEqual(
      expect.objectContaining({ metricName: 'runledger_ingest_duration_seconds_count', labels: { result: 'partial', transport: 'http' }, value: 1 }),
    );
  });

  it('answers partial_success in protobuf as the gRPC receiver does', async () => {
    const { port } = await startReceiver(new RecordingSink());

    const answer = await post(port, request(span(), span({ spanId: Buffer.alloc(8) })));

    const decoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(answer.body), { longs: Number });
    expect(decoded).toEqual({ partialSuccess: { rejectedSpans: 1, errorMessage: '1 span(s) rejected: span_id must not be all zero' } });
  });

  it('accepts a gzip body', async () => {
    const sink = new RecordingSink();
    const { port } = await startReceiver(sink);

    const answer = await post(port, gzipSync(request(span({ name: 'zipped' }))), { headers: { 'content-encoding': 'gzip' } });

    expect(answer.status).toBe(200);
    expect(sink.last.spans.map((s) => s.span.name)).toEqual(['zipped']);
  });

  it('answers 400 with a google.rpc.Status in the request encoding for a body it cannot decode', async () => {
    const sink = new RecordingSink();
    const { port } = await startReceiver(sink);

    const protobuf = await post(port, Buffer.from('garbage bytes here!!'));
    const json = await post(port, '{"resourceSpans": [', { contentType: JSON_TYPE });
    const gzip = await post(port, Buffer.from('not gzip at all'), { headers: { 'content-encoding': 'gzip' } });

    expect([protobuf.status, json.status, gzip.status]).toEqual([400, 400, 400]);
    expect(rpcStatus(protobuf.body)).toMatchObject({ code: 3, message: expect.stringMatching(/^cannot decode ExportTraceServiceRequest: /) });
    expect(JSON.parse(json.body.toString())).toMatchObject({ code: 3, message: expect.stringMatching(/body is not JSON/), details: [] });
    expect(rpcStatus(gzip.body).message).toMatch(/^cannot read the request body: /);
    for (const answer of [protobuf, json, gzip]) expect(answer.headers.get('retry-after')).toBeNull();
    expect(sink.batches).toHaveLength(0);
  });

  it('answers 413 to a body over the limit, and to a small gzip body that inflates past it, without storing', async () => {
    const sink = new RecordingSink();
    const { port } = await startReceiver(sink, { max_recv_msg_size_mib: 1 / 64 }); // 16 KiB
    const big = request(span({ attributes: [{ key: 'padding', value: { stringValue: 'a'.repeat(64 * 1024) } }] }));
    const bomb = gzipSync(request(span({ attributes: [{ key: 'padding', value: { stringValue: 'a'.repeat(8 * 1024 * 1024) } }] })));
    expect(bomb.length).toBeLessThan(16 * 1024);

    const plain = await post(port, big);
    const inflated = await post(port, bomb, { headers: { 'content-encoding': 'gzip' } });

    expect([plain.status, inflated.status]).toEqual([413, 413]);
    expect(rpcStatus(inflated.body)).toMatchObject({ code: 8, message: 'request is larger than 16384 bytes (max_recv_msg_size_mib)' });
    expect(inflated.headers.get('retry-after')).toBeNull();
    expect(sink.batches).toHaveLength(0);
  });

  it.each([
    ['an unsupported content type', { contentType: 'text/plain' }, 415, {}],
    ['an unsupported content encoding', { headers: { 'content-encoding': 'br' } }, 415, {}],
    ['another method', { method: 'GET' }, 405, { allow: 'POST' }],
    ['another path', { path: '/v1/metrics' }, 404, {}],
  ])('answers %s with %i and stores nothing', async (_what, options, status, headers) => {
    const sink = new RecordingSink();
    const { port } = await startReceiver(sink);

    const answer = await post(port, request(span()), options);

    expect(answer.status).toBe(status);
    for (const [name, value] of Object.entries(headers)) expect(answer.headers.get(name)).toBe(value);
    expect(sink.batches).toHaveLength(0);
  });

  it('answers 503 with Retry-After and RetryInfo when the sink is retryably unavailable', async () => {
    const failure = new RunledgerError('STORAGE_UNAVAILABLE', 'storage is unavailable; retry later', { retryable: true });
    const { port, metrics } = await startReceiver(new FailingSink(failure), { retry_delay_ms: 1500 });

    const answer = await post(port, JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'ab'.repeat(16), spanId: '01'.repeat(8) }] }] }] }), {
      contentType: JSON_TYPE,
    });

    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('2');
    expect(JSON.parse(answer.body.toString())).toEqual({
      code: 14,
      message: 'storage is unavailable; retry later',
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.5s' }],
    });
    expect((await metrics.spansRejected.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'storage_unavailable', transport: 'http' }, value: 1 }),
    ]);
  });

  it('answers 500 without the error message when the sink fails unexpectedly', async () => {
    const { port } = await startReceiver(new FailingSink(new Error('secret token abc123 in /etc/runledger')));

    const answer = await post(port, request(span()));

    expect(answer.status).toBe(500);
    expect(rpcStatus(answer.body).message).toBe('internal error');
    expect(answer.body.toString()).not.toContain('abc123');
  });

  it('answers 429 with Retry-After beyond max_concurrent_requests, and frees the slot once answered', async () => {
    const sink = gatedSink();
    const { port } = await startReceiver(sink, { max_concurrent_requests: 1, retry_delay_ms: 250 });

    const first = post(port, request(span()));
    await vi.waitFor(() => expect(sink.batches).toHaveLength(1));
    const second = await post(port, request(span()));

    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(rpcStatus(second.body)).toMatchObject({ code: 14, message: 'too many requests in flight; retry later' });
    sink.release();
    expect((await first).status).toBe(200);
    const third = post(port, request(span()));
    await vi.waitFor(() => expect(sink.batches).toHaveLength(2));
    sink.release();
    expect((await third).status).toBe(200);
  });

  it('answers 401 without the right bearer token, counting it, and accepts the right one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-http-auth-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'a-token-of-sufficient-length\n');
    const sink = new RecordingSink();
    const { port, metrics } = await startReceiver(sink, { auth: { bearer_token_file: tokenFile } });

    const missing = await post(port, request(span()));
    const wrong = await post(port, request(span()), { headers: { authorization: 'Bearer not-the-token-0123456789' } });
    const right = await post(port, request(span()), { headers: { authorization: 'Bearer a-token-of-sufficient-length' } });

    expect([missing.status, wrong.status, right.status]).toEqual([401, 401, 200]);
    expect(rpcStatus(missing.body)).toMatchObject({ code: 16, message: 'missing or invalid bearer token' });
    expect(sink.batches).toHaveLength(1);
    expect((await metrics.requestsUnauthenticated.get()).values).toEqual([
      expect.objectContaining({ labels: { transport: 'http' }, value: 2 }),
    ]);
  });

  it('answers the request in flight when shutdown begins, then refuses new connections', async () => {
    const sink = gatedSink();
    const { receiver, port } = await startReceiver(sink);
    const inFlight = post(port, request(span()));
    await vi.waitFor(() => expect(sink.batches).toHaveLength(1));

    const stopped = receiver.shutdown();
    expect(receiver.listening).toBe(false);
    await expect(post(port, request(span()))).rejects.toThrow();

    sink.release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.headers.get('connection')).toBe('close');
    await stopped;
    expect(sink.batches).toHaveLength(1);
  });
});
