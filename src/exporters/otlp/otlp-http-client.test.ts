import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { OtlpDownstream } from '../../../test/support/otlp-downstream.js';
import { encodeExportRequest, newSpanId } from '../../../test/support/otlp-request.js';
import { createTestCa } from '../../../test/support/test-pki.js';
import { ExportTraceServiceResponse, RETRY_INFO_TYPE_URL, RetryInfo, RpcStatus } from '../../otlp/proto.js';
import { otlpExporterConfigSchema } from './config.js';
import { classifyHttpAnswer, OtlpHttpClient, retryAfterMs, signalUrl } from './otlp-http-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(endpoint: string, options: Record<string, unknown> = {}): OtlpHttpClient {
  const config = otlpExporterConfigSchema.parse({ protocol: 'http/protobuf', endpoint, ...options });
  const c = new OtlpHttpClient({ ...config, endpoint });
  cleanups.push(() => c.close());
  return c;
}

interface Seen {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly clientCert?: string;
}

/** A node:http(s) server answering every request with `answer`, recording what it saw. */
async function server(answer: (res: http.ServerResponse) => void, tls?: https.ServerOptions): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const peer = tls === undefined ? undefined : (req.socket as TLSSocket).getPeerCertificate();
      seen.push({ url: req.url ?? '', headers: req.headers, ...(peer?.subject === undefined ? {} : { clientCert: String(peer.subject.CN) }) });
      answer(res);
    });
  };
  const s = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      }),
  );
  return { url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

const EMPTY_RESPONSE = Buffer.from(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject({})).finish());
const ok = (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(EMPTY_RESPONSE);

function statusBody(message: string, retryDelaySeconds?: number): Buffer {
  const details =
    retryDelaySeconds === undefined
      ? []
      : [{ type_url: RETRY_INFO_TYPE_URL, value: RetryInfo.encode(RetryInfo.fromObject({ retryDelay: { seconds: retryDelaySeconds } })).finish() }];
  return Buffer.from(RpcStatus.encode(RpcStatus.fromObject({ code: 14, message, details })).finish());
}

const PROTOBUF = { 'content-type': 'application/x-protobuf' };

describe('signalUrl', () => {
  it('appends /v1/traces and /v1/logs to the endpoint, keeping its path as a prefix', () => {
    expect(signalUrl('http://collector:4318', 'traces').href).toBe('http://collector:4318/v1/traces');
    expect(signalUrl('https://collector:4318/', 'logs').href).toBe('https://collector:4318/v1/logs');
    expect(signalUrl('https://gateway.example/otlp', 'traces').href).toBe('https://gateway.example/otlp/v1/traces');
    expect(signalUrl('http://loki/otlp/', 'logs').href).toBe('http://loki/otlp/v1/logs');
  });
});

describe('classifyHttpAnswer', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');

  it('takes any 2xx as success, passing the body on for partial_success', () => {
    expect(classifyHttpAnswer(200, PROTOBUF, EMPTY_RESPONSE, now)).toEqual({ status: 'success', response: EMPTY_RESPONSE });
    expect(classifyHttpAnswer(204, {}, Buffer.alloc(0), now)).toEqual({ status: 'success', response: Buffer.alloc(0) });
  });

  it('drops 400, and 413 without Retry-After, with the server\'s Status message', () => {
    expect(classifyHttpAnswer(400, PROTOBUF, statusBody('bad span'), now)).toEqual({ status: 'permanent', message: 'HTTP 400: bad span' });
    expect(classifyHttpAnswer(413, {}, Buffer.alloc(0), now)).toEqual({ status: 'permanent', message: 'HTTP 413' });
    expect(classifyHttpAnswer(413, { 'retry-after': '5' }, Buffer.alloc(0), now)).toEqual({ status: 'retryable', message: 'HTTP 413', retryDelayMs: 5000 });
  });

  it('retries 429, 502, 503 and 504, after Retry-After in seconds or as an HTTP date', () => {
    expect(classifyHttpAnswer(429, {}, Buffer.alloc(0), now)).toEqual({ status: 'retryable', message: 'HTTP 429' });
    expect(classifyHttpAnswer(503, { 'retry-after': '3' }, Buffer.alloc(0), now)).toMatchObject({ status: 'retryable', retryDelayMs: 3000 });
    expect(classifyHttpAnswer(502, { 'retry-after': 'Mon, 07 Dec 2026 12:00:30 GMT' }, Buffer.alloc(0), now)).toMatchObject({ status: 'retryable', retryDelayMs: 30_000 });
    expect(classifyHttpAnswer(504, {}, Buffer.alloc(0), now)).toMatchObject({ status: 'retryable' });
  });

  it('falls back to a RetryInfo in the Status body, and Retry-After wins over it', () => {
    expect(classifyHttpAnswer(503, PROTOBUF, statusBody('busy', 7), now)).toEqual({ status: 'retryable', message: 'HTTP 503: busy', retryDelayMs: 7000 });
    expect(classifyHttpAnswer(503, { ...PROTOBUF, 'retry-after': '2' }, statusBody('busy', 7), now)).toMatchObject({ retryDelayMs: 2000 });
  });

  it('retries other refusals: credentials, a wrong path, a redirect or a server fault wait in the store until fixed', () => {
    for (const code of [401, 403, 404, 405, 415, 500, 501]) {
      expect(classifyHttpAnswer(code, {}, Buffer.alloc(0), now), String(code)).toEqual({ status: 'retryable', message: `HTTP ${code}` });
    }
    expect(classifyHttpAnswer(308, {}, Buffer.alloc(0), now)).toMatchObject({ status: 'retryable', message: expect.stringMatching(/redirects are not followed/) });
  });

  it('reads a refusal body as a Status only when it is protobuf', () => {
    expect(classifyHttpAnswer(400, { 'content-type': 'text/html' }, Buffer.from('<h1>Bad Request</h1>'), now)).toEqual({ status: 'permanent', message: 'HTTP 400' });
    expect(classifyHttpAnswer(503, { 'content-type': 'application/x-protobuf; charset=binary' }, statusBody('down'), now)).toMatchObject({ message: 'HTTP 503: down' });
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');

  it('reads delay-seconds and HTTP dates (a past date is now) and ignores anything else', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Mon, 07 Dec 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 11:00:00 GMT', now)).toBe(0);
    for (const junk of [undefined, '', '1.5', '-3', 'soon']) expect(retryAfterMs(junk, now), String(junk)).toBeUndefined();
  });
});

describe('OtlpHttpClient', () => {
  it('POSTs gzip-compressed protobuf with the configured headers and bearer token, and returns the response', async () => {
    const down = await new OtlpDownstream('http/protobuf').start();
    cleanups.push(() => down.stop());
    const dir = mkdtempSync(join(tmpdir(), 'runledger-otlp-http-'));
    writeFileSync(join(dir, 'token'), 's3cret-token\n');
    down.answer = () => ({ kind: 'ok', rejected: 1 });
    const c = client(down.endpoint, { headers: { 'X-Tenant': 'acme' }, auth: { bearer_token_file: join(dir, 'token') } });
    const spans = [{ name: 'a', spanId: newSpanId() }, { name: 'b', spanId: newSpanId() }];

    const result = await c.export('traces', encodeExportRequest([{ spans }]));
    expect(result.status).toBe('success');
    const response = ExportTraceServiceResponse.decode((result as { response: Buffer }).response) as unknown as { partialSuccess: { rejectedSpans: { toNumber(): number } | number } };
    expect(Number(response.partialSuccess.rejectedSpans)).toBe(1);
    expect(down.spans.map((s) => s.spanId)).toEqual(spans.map((s) => s.spanId.toString('hex')));
    expect(down.calls[0]!.headers).toMatchObject({
      'content-type': 'application/x-protobuf',
      'content-encoding': 'gzip',
      'x-tenant': 'acme',
      authorization: 'Bearer s3cret-token',
    });
  });

  it('sends uncompressed with compression: none, to <endpoint prefix>/v1/logs for logs', async () => {
    const { url, seen } = await server(ok);
    const result = await client(`${url}/otlp/`, { compression: 'none' }).export('logs', Buffer.from([0x0a, 0x00]));
    expect(result.status).toBe('success');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('/otlp/v1/logs');
    expect(seen[0]!.headers['content-encoding']).toBeUndefined();
    expect(seen[0]!.headers['content-length']).toBe('2');
  });

  it('answers a refusal as the server classified it, with Retry-After from the wire', async () => {
    const down = await new OtlpDownstream('http/protobuf').start();
    cleanups.push(() => down.stop());
    const answers = [
      { kind: 'refuse', code: grpc.status.UNAVAILABLE, retryDelayMs: 2000 },
      { kind: 'refuse', code: grpc.status.INVALID_ARGUMENT },
    ] as const;
    let next = 0;
    down.answer = () => answers[next++]!;
    const c = client(down.endpoint);
    const body = encodeExportRequest([{ spans: [{ name: 'a' }] }]);
    expect(await c.export('traces', body)).toEqual({ status: 'retryable', message: 'HTTP 503: test refuses', retryDelayMs: 2000 });
    expect(await c.export('traces', body)).toEqual({ status: 'permanent', message: 'HTTP 400: test refuses' });
  });

  it('sends again at once on a fresh connection when a kept-alive one turns out closed', async () => {
    const requestsOn = new Map<unknown, number>();
    const s = http.createServer((req, res) => {
      const n = (requestsOn.get(req.socket) ?? 0) + 1;
      requestsOn.set(req.socket, n);
      // As a server closing an idle connection just as the next request goes out on it.
      if (n > 1) return void req.socket.destroy();
      req.resume();
      req.on('end', () => ok(res));
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => (s.close(() => resolve()), s.closeAllConnections())));
    const c = client(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);

    expect(await c.export('traces', Buffer.alloc(0))).toMatchObject({ status: 'success' });
    expect(await c.export('traces', Buffer.alloc(0))).toMatchObject({ status: 'success' });
    expect([...requestsOn.values()]).toEqual([2, 1]); // the reset connection, then a fresh one
  });

  it('retries when nothing listens, and when no answer comes within timeout_ms', async () => {
    const { url: silent } = await server(() => undefined); // never answers
    const closed = await server(ok);
    const closedUrl = closed.url;
    await cleanups.pop()!(); // stop it: its port now refuses connections
    expect(await client(closedUrl).export('traces', Buffer.alloc(0))).toMatchObject({ status: 'retryable', message: expect.stringMatching(/ECONNREFUSED/) });
    expect(await client(silent, { timeout_ms: 200 }).export('traces', Buffer.alloc(0))).toEqual({
      status: 'retryable',
      message: 'no answer within timeout_ms (200 ms)',
    });
  });

  it('over https://, verifies the server against ca_file and server_name_override and presents the mTLS client certificate', async () => {
    const pki = mkdtempSync(join(tmpdir(), 'runledger-otlp-http-pki-'));
    const ca = createTestCa(pki, 'forward-test-ca');
    const serverCert = ca.issue('collector', 'server', 'DNS:otel-collector.test');
    const clientCert = ca.issue('runledger-forwarder', 'client');
    const { url, seen } = await server(ok, { key: serverCert.key, cert: serverCert.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: true });
    const tls = { ca_file: ca.certFile, cert_file: clientCert.certFile, key_file: clientCert.keyFile };

    expect(await client(url, { tls: { ...tls, server_name_override: 'otel-collector.test' } }).export('traces', Buffer.alloc(0))).toMatchObject({ status: 'success' });
    expect(seen.map((s) => s.clientCert)).toEqual(['runledger-forwarder']);
    // The certificate names otel-collector.test, not 127.0.0.1: without the override it is refused.
    expect(await client(url, { tls }).export('traces', Buffer.alloc(0))).toMatchObject({ status: 'retryable', message: expect.stringMatching(/altnames/) });
    expect(seen).toHaveLength(1);
  });
});
