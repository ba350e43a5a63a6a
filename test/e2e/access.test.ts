import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { createSecureOtelSender, rawExport, type SecureSenderOptions } from '../support/secure-clients.js';
import { spansOfTrace } from '../support/stored-spans.js';
import { createTestCa, type IssuedCert } from '../support/test-pki.js';
import { PATIENCE_MS } from '../support/patience.js';

/**
 * DESIGN §8 "Auth failure → UNAUTHENTICATED. TLS and mTLS configurable": real processes, real
 * certificates made with openssl, the official OTel exporter for what must be accepted and a raw
 * grpc-js client for what must be refused (the exporter would retry and hide the status).
 */

const pki = mkdtempSync(join(tmpdir(), 'runledger-pki-'));
const ca = createTestCa(pki, 'runledger-test-ca');
const server = ca.issue('runledger-server', 'server', 'IP:127.0.0.1,DNS:localhost');
const client = ca.issue('workflow-engine', 'client');
const otherCa = createTestCa(pki, 'unrelated-ca');
const strangerClient = otherCa.issue('stranger', 'client');

const GRPC_TOKEN = `grpc-${randomBytes(24).toString('hex')}`;
const HTTP_TOKEN = `http-${randomBytes(24).toString('hex')}`;
const grpcTokenFile = join(pki, 'grpc-token');
const httpTokenFile = join(pki, 'http-token');
writeFileSync(grpcTokenFile, `${GRPC_TOKEN}\n`, { mode: 0o600 });
writeFileSync(httpTokenFile, `${HTTP_TOKEN}\n`, { mode: 0o600 });

const tls = (clientCa?: string) => ({ cert_file: server.certFile, key_file: server.keyFile, ...(clientCa !== undefined ? { client_ca_file: clientCa } : {}) });
const ssl = (leaf?: IssuedCert, trust: Buffer = ca.cert) =>
  leaf === undefined ? grpc.credentials.createSsl(trust) : grpc.credentials.createSsl(trust, leaf.key, leaf.cert);

/** Sends one span through the official exporter and resolves with its trace id once runledger stored it. */
async function sendSpan(p: RunledgerProcess, url: string, options: SecureSenderOptions): Promise<string> {
  const sender = createSecureOtelSender(url, { 'service.name': 'e2e-access' }, options);
  try {
    const span = sender.tracer.startSpan('deploy step');
    span.end();
    await sender.flush();
    return span.spanContext().traceId;
  } finally {
    await sender.shutdown();
  }
}

async function waitForStored(dbPath: string, traceId: string): Promise<number> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const stored = spansOfTrace(dbPath, traceId).length;
    if (stored > 0 || Date.now() > deadline) return stored;
    await sleep(25);
  }
}

/** An empty OTLP/HTTP Export (protobuf) over TLS: the HTTP status, or `error: CODE` when the connection failed. */
function httpsExport(p: RunledgerProcess, tlsOptions: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<number | string> {
  return settle(https.request({ host: '127.0.0.1', port: p.otlpHttpPort, path: '/v1/traces', method: 'POST', ...tlsOptions, headers: EMPTY_EXPORT }));
}

/** An empty OTLP/HTTP Export in plaintext, with an optional authorization header. */
function plainExport(p: RunledgerProcess, authorization?: string): Promise<number | string> {
  const headers = { ...EMPTY_EXPORT, ...(authorization === undefined ? {} : { authorization }) };
  return settle(http.request({ host: '127.0.0.1', port: p.otlpHttpPort, path: '/v1/traces', method: 'POST', headers }));
}

const EMPTY_EXPORT = { 'content-type': 'application/x-protobuf', 'content-length': '0' };

function settle(request: http.ClientRequest): Promise<number | string> {
  return new Promise((resolve) => {
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
    request.end();
  });
}

/** Exports one span through `exporter` and resolves with its trace id once the export succeeded. */
async function exportOneSpan(exporter: OTLPTraceExporter): Promise<string> {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  try {
    const span = provider.getTracer('runledger-e2e-access').startSpan('deploy step over https');
    span.end();
    await provider.forceFlush();
    return span.spanContext().traceId;
  } finally {
    await provider.shutdown();
  }
}

describe.concurrent('receiver and API access control', () => {
  let mtls: RunledgerProcess;
  let tlsOnly: RunledgerProcess;
  let bearer: RunledgerProcess;
  const signing = (name: string) => ({ integrity: { signing_key_file: join(pki, `${name}-signing.pem`) } });

  beforeAll(async () => {
    [mtls, tlsOnly, bearer] = await Promise.all([
      startRunledger({ config: { ...signing('mtls'), receiver: { otlp_grpc: { tls: tls(ca.certFile) }, otlp_http: { tls: tls(ca.certFile) } } } }),
      startRunledger({ config: { ...signing('tls'), receiver: { otlp_grpc: { tls: tls() }, otlp_http: { tls: tls() } } } }),
      startRunledger({
        config: {
          ...signing('bearer'),
          receiver: { otlp_grpc: { auth: { bearer_token_file: grpcTokenFile } }, otlp_http: { auth: { bearer_token_file: grpcTokenFile } } },
          http: { auth: { bearer_token_file: httpTokenFile } },
          telemetry: { logs: { level: 'debug' } },
        },
      }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([mtls, tlsOnly, bearer].map((p) => p?.stop()));
  });

  const address = (p: RunledgerProcess) => `127.0.0.1:${p.grpcPort}`;
  const httpsUrl = (p: RunledgerProcess) => `https://127.0.0.1:${p.grpcPort}`;

  describe.concurrent('mTLS (tls.client_ca_file set)', () => {
    it('accepts the OTel exporter presenting a client certificate from the configured CA, and stores its spans', async () => {
      const traceId = await sendSpan(mtls, httpsUrl(mtls), { credentials: ssl(client) });
      expect(await waitForStored(mtls.dbPath, traceId)).toBe(1);
    });

    it('answers a raw client with the right client certificate OK', async () => {
      expect(await rawExport(address(mtls), ssl(client))).toEqual({ code: grpc.status.OK, details: '' });
    });

    it('refuses a client without a certificate in the TLS handshake (UNAVAILABLE)', async () => {
      expect((await rawExport(address(mtls), ssl())).code).toBe(grpc.status.UNAVAILABLE);
    });

    it('refuses a client whose certificate comes from another CA (UNAVAILABLE)', async () => {
      expect((await rawExport(address(mtls), ssl(strangerClient))).code).toBe(grpc.status.UNAVAILABLE);
      // the other CA's chain, offered in full, does not help either
      const chain = Buffer.concat([strangerClient.cert, otherCa.cert]);
      expect((await rawExport(address(mtls), grpc.credentials.createSsl(ca.cert, strangerClient.key, chain))).code).toBe(grpc.status.UNAVAILABLE);
    });

    it('refuses plaintext (UNAVAILABLE)', async () => {
      expect((await rawExport(address(mtls), grpc.credentials.createInsecure())).code).toBe(grpc.status.UNAVAILABLE);
    });

    it('names the transport security in its listening log line', () => {
      expect(mtls.logs.find((l) => l.msg === 'OTLP/gRPC receiver listening')).toMatchObject({ tls: 'mtls', auth: 'none' });
    });
  });

  describe.concurrent('TLS without client_ca_file', () => {
    it('accepts a client that presents no certificate, and stores the OTel exporter\'s spans', async () => {
      expect(await rawExport(address(tlsOnly), ssl())).toEqual({ code: grpc.status.OK, details: '' });
      const traceId = await sendSpan(tlsOnly, httpsUrl(tlsOnly), { credentials: ssl() });
      expect(await waitForStored(tlsOnly.dbPath, traceId)).toBe(1);
    });

    it('serves a certificate valid for localhost as well as 127.0.0.1', async () => {
      const outcome = await rawExport(address(tlsOnly), ssl(), { channel: { 'grpc.ssl_target_name_override': 'localhost' } });
      expect(outcome.code).toBe(grpc.status.OK);
    });

    it('is refused by a client that does not trust the server CA (UNAVAILABLE)', async () => {
      expect((await rawExport(address(tlsOnly), ssl(undefined, otherCa.cert))).code).toBe(grpc.status.UNAVAILABLE);
    });

    it('refuses plaintext (UNAVAILABLE)', async () => {
      expect((await rawExport(address(tlsOnly), grpc.credentials.createInsecure())).code).toBe(grpc.status.UNAVAILABLE);
    });
  });

  describe.concurrent('bearer token on OTLP/gRPC (receiver.otlp_grpc.auth)', () => {
    const insecure = () => grpc.credentials.createInsecure();

    it('answers an Export without the authorization header UNAUTHENTICATED', async () => {
      expect(await rawExport(address(bearer), insecure())).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    });

    it('answers a wrong token, another scheme or a token with extra words UNAUTHENTICATED', async () => {
      for (const value of [
        'Bearer not-the-token-at-all-0123456789',
        `Bearer ${GRPC_TOKEN}x`,
        `Bearer ${GRPC_TOKEN.slice(0, -1)}`,
        `Basic ${GRPC_TOKEN}`,
        GRPC_TOKEN,
        `Bearer ${GRPC_TOKEN} extra`,
        `Bearer ${HTTP_TOKEN}`,
      ]) {
        expect((await rawExport(address(bearer), insecure(), { headers: { authorization: value } })).code, value).toBe(grpc.status.UNAUTHENTICATED);
      }
    });

    it('accepts the right token from a raw client and from the OTel exporter, which stores its spans', async () => {
      expect(await rawExport(address(bearer), insecure(), { headers: { authorization: `Bearer ${GRPC_TOKEN}` } })).toEqual({
        code: grpc.status.OK,
        details: '',
      });
      const traceId = await sendSpan(bearer, bearer.grpcUrl, { headers: { authorization: `Bearer ${GRPC_TOKEN}` } });
      expect(await waitForStored(bearer.dbPath, traceId)).toBe(1);
    });

    it('stores nothing from the OTel exporter with a wrong token, and its export fails', async () => {
      const sender = createSecureOtelSender(bearer.grpcUrl, { 'service.name': 'e2e-access' }, { headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } });
      const span = sender.tracer.startSpan('unauthorised step');
      span.end();
      await expect(sender.flush()).rejects.toThrow();
      await sender.shutdown();
      expect(spansOfTrace(bearer.dbPath, span.spanContext().traceId)).toEqual([]);
    });
  });

  describe.concurrent('OTLP/HTTP with the same tls and auth options', () => {
    it('accepts a client certificate from the configured CA over mTLS, and the official exporter stores its spans', async () => {
      expect(await httpsExport(mtls, { ca: ca.cert, cert: client.cert, key: client.key })).toBe(200);
      const exporter = new OTLPTraceExporter({
        url: `https://127.0.0.1:${mtls.otlpHttpPort}/v1/traces`,
        httpAgentOptions: { ca: ca.cert, cert: client.cert, key: client.key },
      });
      const traceId = await exportOneSpan(exporter);
      expect(await waitForStored(mtls.dbPath, traceId)).toBe(1);
    });

    it('refuses, in the TLS handshake, a client without a certificate, with one from another CA, or in plaintext', async () => {
      expect(await httpsExport(mtls, { ca: ca.cert })).toMatch(/^error: /);
      expect(await httpsExport(mtls, { ca: ca.cert, cert: strangerClient.cert, key: strangerClient.key })).toMatch(/^error: /);
      expect(await plainExport(mtls)).toMatch(/^error: /);
    });

    it('accepts a client without a certificate over TLS, and is refused by one that does not trust the server CA', async () => {
      expect(await httpsExport(tlsOnly, { ca: ca.cert })).toBe(200);
      expect(await httpsExport(tlsOnly, { ca: otherCa.cert })).toMatch(/^error: /);
      expect(await plainExport(tlsOnly)).toMatch(/^error: /);
    });

    it('answers 401 without the bearer token or with the API token, and 200 with the right one', async () => {
      expect(await plainExport(bearer)).toBe(401);
      expect(await plainExport(bearer, `Bearer ${HTTP_TOKEN}`)).toBe(401);
      expect(await plainExport(bearer, `Bearer ${GRPC_TOKEN}`)).toBe(200);
    });

    it('names the transport security in its listening log line', () => {
      expect(mtls.logs.find((l) => l.msg === 'OTLP/HTTP receiver listening')).toMatchObject({ tls: 'mtls', auth: 'none' });
      expect(tlsOnly.logs.find((l) => l.msg === 'OTLP/HTTP receiver listening')).toMatchObject({ tls: 'tls', auth: 'none' });
      expect(bearer.logs.find((l) => l.msg === 'OTLP/HTTP receiver listening')).toMatchObject({ tls: 'off', auth: 'bearer' });
    });
  });

  describe.sequential('bearer token on the HTTP API (http.auth)', () => {
    const get = (path: string, authorization?: string) =>
      fetch(`${bearer.httpUrl}${path}`, authorization === undefined ? {} : { headers: { authorization } });

    it('answers /api/v1/runs without a token 401 UNAUTHENTICATED (JSON)', async () => {
      const response = await get('/api/v1/runs');
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    });

    it('answers a wrong token (the OTLP token included) 401', async () => {
      for (const value of ['Bearer wrong-token-0123456789abcdef', `Bearer ${GRPC_TOKEN}`, `Basic ${HTTP_TOKEN}`, HTTP_TOKEN]) {
        const response = await get('/api/v1/runs', value);
        expect(response.status, value).toBe(401);
        expect(await response.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
      }
      expect((await get('/api/v1/runs/some-run/evidence')).status).toBe(401);
      expect([401, 404]).toContain((await get('/api/v2/nothing')).status);
    });

    // The router decodes percent-escapes before matching: /%61pi/v1/runs is the /api/v1/runs route.
    it('cannot be bypassed by percent-encoding the path', async () => {
      for (const path of ['/%61pi/v1/runs', '/%61pi/v1/runs/any-run/evidence', '/api/v1/%72uns']) {
        const response = await get(path);
        expect(response.status, path).toBe(401);
        expect(await response.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
      }
    });

    it('answers the right token 200 (the scheme is case-insensitive)', async () => {
      const response = await get('/api/v1/runs', `Bearer ${HTTP_TOKEN}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toBeDefined();
      expect((await get('/api/v1/runs', `bearer ${HTTP_TOKEN}`)).status).toBe(200);
    });

    it('keeps /healthz, /readyz and /metrics open without a token', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics']) expect((await get(path)).status, path).toBe(200);
    });
  });

  it('never writes a token to its logs', async () => {
    // accepted and refused requests carrying both tokens, logged at level debug
    await rawExport(address(bearer), grpc.credentials.createInsecure(), { headers: { authorization: `Bearer ${GRPC_TOKEN}` } });
    await plainExport(bearer, `Bearer ${GRPC_TOKEN}`);
    await plainExport(bearer, `Bearer ${HTTP_TOKEN}`);
    await fetch(`${bearer.httpUrl}/api/v1/runs`, { headers: { authorization: `Bearer ${HTTP_TOKEN}` } });
    await fetch(`${bearer.httpUrl}/api/v1/runs`, { headers: { authorization: `Bearer ${GRPC_TOKEN}` } });
    const out = bearer.stdout();
    expect(out.length).toBeGreaterThan(0);
    expect(out).not.toContain(GRPC_TOKEN);
    expect(out).not.toContain(HTTP_TOKEN);
    expect(bearer.logs.find((l) => l.msg === 'OTLP/gRPC receiver listening')).toMatchObject({ auth: 'bearer', tls: 'off' });
  });

  it('refuses to start with a token shorter than 16 characters', async () => {
    const shortToken = join(pki, 'short-token');
    writeFileSync(shortToken, 'short\n');
    await expect(
      startRunledger({ config: { ...signing('short'), receiver: { otlp_grpc: { auth: { bearer_token_file: shortToken } } } } }),
    ).rejects.toThrow(/at least 16 characters/);
  });
});
