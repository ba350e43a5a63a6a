import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { gzipSync } from 'node:zlib';
import type { OtlpExporterConfig } from './config.js';
import type { ForwardSignal } from './otlp-exporter.js';
import type { ExportResult, OtlpExporter } from './otlp-exporter.js';
import { decodeRefusalStatus } from './rpc-status.js';

const PROTOBUF = 'application/x-protobuf';

/**
 * An OTLP/HTTP client (binary protobuf) that sends already-encoded export requests to
 * `<endpoint>/v1/traces` and `<endpoint>/v1/logs`, as the Collector's otlphttp exporter does. TLS
 * follows the URL scheme: https:// uses tls.ca_file, cert_file/key_file (mTLS) and
 * server_name_override; http:// is plaintext (the config refuses TLS files with it).
 */
export class OtlpHttpClient implements OtlpExporter {
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly urls: Readonly<Record<ForwardSignal, URL>>;
  private readonly headers: Readonly<Record<string, string>>;

  constructor(private readonly config: Readonly<OtlpExporterConfig> & { readonly endpoint: string }) {
    const { tls } = config;
    this.urls = { traces: signalUrl(config.endpoint, 'traces'), logs: signalUrl(config.endpoint, 'logs') };
    if (this.urls.traces.protocol === 'https:') {
      this.agent = new https.Agent({
        keepAlive: true,
        ...(tls.ca_file === undefined ? {} : { ca: readFileSync(tls.ca_file) }),
        ...(tls.cert_file === undefined ? {} : { cert: readFileSync(tls.cert_file) }),
        ...(tls.key_file === undefined ? {} : { key: readFileSync(tls.key_file) }),
        ...(tls.server_name_override === undefined ? {} : { servername: tls.server_name_override }),
      });
      this.request = https.request;
    } else {
      this.agent = new http.Agent({ keepAlive: true });
      this.request = http.request;
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(config.headers)) headers[key.toLowerCase()] = value;
    if (config.auth !== undefined) {
      headers.authorization = `Bearer ${readFileSync(config.auth.bearer_token_file, 'utf8').trim()}`;
    }
    this.headers = { ...headers, 'content-type': PROTOBUF };
  }

  export(signal: ForwardSignal, body: Uint8Array): Promise<ExportResult> {
    const gzip = this.config.compression === 'gzip';
    // Synchronous on purpose: this thread is niced, while async zlib runs on libuv's shared pool at
    // normal priority (see gzipOnThisThread).
    const payload = gzip ? gzipSync(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const headers = { ...this.headers, ...(gzip ? { 'content-encoding': 'gzip' } : {}), 'content-length': String(payload.length) };
    return this.post(this.urls[signal], headers, payload, true);
  }

  private post(url: URL, headers: Readonly<Record<string, string>>, payload: Buffer, firstTry: boolean): Promise<ExportResult> {
    return new Promise<ExportResult>((resolve) => {
      let deadline: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (result: ExportResult | Promise<ExportResult>) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(result);
      };
      const failed = (err: unknown) => settle({ status: 'retryable', message: err instanceof Error ? err.message : String(err) });
      try {
        const request = this.request(url, { method: 'POST', agent: this.agent, headers }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => settle(classifyHttpAnswer(response.statusCode ?? 0, response.headers, Buffer.concat(chunks))));
          response.on('error', failed);
        });
        deadline = setTimeout(() => request.destroy(new Error(`no answer within timeout_ms (${this.config.timeout_ms} ms)`)), this.config.timeout_ms);
        request.on('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive connection the server closed while idle fails at once: send again on a fresh
          // one rather than wait out a retry interval (as Node's docs advise, see request.reusedSocket).
          if (firstTry && request.reusedSocket && err.code === 'ECONNRESET') settle(this.post(url, headers, payload, false));
          else failed(err);
        });
        request.end(payload);
      } catch (err) {
        failed(err); // e.g. a header value Node refuses to send: retried, and logged by the forwarder
      }
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** `<endpoint>/v1/<signal>`: the endpoint's path is a prefix (a trailing slash is not doubled). */
export function signalUrl(endpoint: string, signal: ForwardSignal): URL {
  const url = new URL(endpoint);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/${signal}`;
  return url;
}

/**
 * The OTLP/HTTP spec's answer classes, with the gRPC client's one difference: 2xx is success (the body
 * an Export*ServiceResponse, maybe with partial_success); 400, and 413 without Retry-After, are dropped;
 * 429, 502, 503 and 504 are retried as the spec says. The spec drops every other 4xx and 5xx, but
 * those are mostly configuration problems (401/403 credentials, 404 a wrong prefix, a redirect): the
 * data waits in the store until they are fixed, bounded by max_backlog_age_minutes.
 */
export function classifyHttpAnswer(statusCode: number, headers: http.IncomingHttpHeaders, body: Buffer, nowMs = Date.now()): ExportResult {
  if (statusCode >= 200 && statusCode < 300) return { status: 'success', response: body };
  const status = headers['content-type']?.split(';')[0]?.trim() === PROTOBUF ? decodeRefusalStatus(body) : undefined;
  const redirect = statusCode >= 300 && statusCode < 400 ? ' (redirects are not followed: point endpoint at the final URL)' : '';
  const message = `HTTP ${statusCode}${redirect}${status?.message ? `: ${status.message}` : ''}`;
  const retryDelayMs = retryAfterMs(headers['retry-after'], nowMs) ?? status?.retryDelayMs;
  if (statusCode === 400) return { status: 'permanent', message };
  if (statusCode === 413 && retryDelayMs === undefined) return { status: 'permanent', message };
  return { status: 'retryable', message, ...(retryDelayMs === undefined ? {} : { retryDelayMs }) };
}

/** A Retry-After header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, in milliseconds from now. */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  const text = value?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse also reads bare numbers like "1.5" as dates: an HTTP-date always has a day or month name.
  const date = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
