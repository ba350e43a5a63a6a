/**
 * OTLP/HTTP trace receiver: `POST /v1/traces`, `application/x-protobuf` or `application/json`, gzip or
 * uncompressed, on its own listener (default :4318).
 *
 * Built on node:http / node:https rather than fastify (which serves the API on :4320): the body must
 * stream through gunzip with a cap on the *decompressed* size, so a gzip bomb never inflates past the
 * limit in memory, where a framework's body parser would buffer or inflate it first; OTLP needs one
 * route and no schema layer. A listener of its own means OTLP load never queues behind API requests,
 * nor the API behind OTLP load.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { createGunzip } from 'node:zlib';
import { parseEndpoint } from '../config/endpoint.js';
import { RunledgerError } from '../errors.js';
import { encodeExportResponse, type OtlpEncoding } from '../otlp/responses.js';
import type { Component } from '../pipeline/component.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import type { OtlpTransportConfig } from './config.js';
import { readTlsOptions, tlsMode } from './credentials.js';
import { toHttpError } from './http-status.js';
import { OtlpIntake, type ExportResult, type OtlpIntakeDeps } from './otlp-intake.js';

export const OTLP_HTTP_TRACES_PATH = '/v1/traces';

const CONTENT_TYPES: Readonly<Record<string, OtlpEncoding>> = {
  'application/x-protobuf': 'protobuf',
  'application/json': 'json',
};
const CONTENT_TYPE_OF: Readonly<Record<OtlpEncoding, string>> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

export type OtlpHttpReceiverDeps = OtlpIntakeDeps;

export class OtlpHttpReceiver implements Component {
  private server: http.Server | undefined;
  private closing: Promise<void> | undefined;
  private tlsReload: NodeJS.Timeout | undefined;
  private boundPort = 0;
  private readonly intake: OtlpIntake;
  private readonly maxBytes: number;

  constructor(
    private readonly config: OtlpTransportConfig,
    next: SpanSink,
    private readonly deps: OtlpHttpReceiverDeps,
  ) {
    this.intake = new OtlpIntake(config, next, 'http', deps);
    this.maxBytes = Math.floor(config.max_recv_msg_size_mib * 1024 * 1024);
  }

  /** The port actually bound (useful when the endpoint asked for port 0). */
  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server !== undefined && this.closing === undefined;
  }

  async start(): Promise<void> {
    const server = this.createServer();
    const { host, port } = parseEndpoint(this.config.endpoint);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.deps.logger.error({ err }, 'OTLP/HTTP server error'));
    const address = server.address();
    this.boundPort = typeof address === 'object' && address !== null ? address.port : port;
    this.server = server;
    this.deps.logger.info(
      { endpoint: this.config.endpoint, port: this.boundPort, tls: tlsMode(this.config.tls), auth: this.intake.authMode },
      'OTLP/HTTP receiver listening',
    );
  }

  /** Stops accepting connections and waits for the requests in flight to be answered. */
  shutdown(): Promise<void> {
    const server = this.server;
    if (server === undefined) return Promise.resolve();
    this.closing ??= new Promise<void>((resolve) => {
      clearInterval(this.tlsReload);
      // close() also drops idle keep-alive connections; busy ones end after their answer (connection: close).
      server.close(() => {
        this.server = undefined;
        this.deps.logger.info('OTLP/HTTP receiver stopped');
        resolve();
      });
    });
    return this.closing;
  }

  private createServer(): http.Server {
    const tls = this.config.tls;
    if (tls === undefined) return http.createServer(this.handleRequest);
    let options = readTlsOptions(tls);
    const server = https.createServer(options, this.handleRequest);
    // Re-read the files like the gRPC receiver's certificate provider, so rotated certificates apply
    // without a restart; a broken file keeps the last good context.
    this.tlsReload = setInterval(() => {
      try {
        const next = readTlsOptions(tls);
        if (!sameTlsFiles(options, next)) server.setSecureContext(next);
        options = next;
      } catch (err) {
        this.deps.logger.warn({ err }, 'cannot reload OTLP/HTTP TLS files; keeping the previous ones');
      }
    }, tls.reload_interval_seconds * 1000);
    this.tlsReload.unref();
    return server;
  }

  private readonly handleRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const encoding = CONTENT_TYPES[contentType];
    const refusal = this.refusal(req, encoding);
    if (refusal !== undefined) {
      this.answer(req, res, encoding ?? 'json', { status: 'failure', error: refusal });
      return;
    }
    const gzip = (req.headers['content-encoding'] ?? '').trim().toLowerCase() === 'gzip';
    void this.intake
      .export({ authorization: req.headers.authorization, encoding: encoding!, body: () => readBody(req, gzip, this.maxBytes) })
      .then((result) => this.answer(req, res, encoding!, result));
  };

  /** Why a request is not an Export this receiver can read, if it is not. */
  private refusal(req: http.IncomingMessage, encoding: OtlpEncoding | undefined): RunledgerError | undefined {
    if ((req.url ?? '').split('?')[0] !== OTLP_HTTP_TRACES_PATH) {
      return new RunledgerError('NOT_FOUND', `OTLP/HTTP traces are sent to POST ${OTLP_HTTP_TRACES_PATH}`);
    }
    if (req.method !== 'POST') return new RunledgerError('METHOD_NOT_ALLOWED', `${OTLP_HTTP_TRACES_PATH} accepts POST only`);
    if (encoding === undefined) {
      return new RunledgerError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/x-protobuf or application/json');
    }
    const contentEncoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (contentEncoding !== 'gzip' && contentEncoding !== 'identity') {
      return new RunledgerError('UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding must be gzip or absent');
    }
    // A request on a kept-alive connection after shutdown began: the client retries elsewhere or later.
    if (this.closing !== undefined) return new RunledgerError('SHUTTING_DOWN', 'receiver is shutting down; retry later', { retryable: true });
    return undefined;
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, encoding: OtlpEncoding, result: ExportResult): void {
    let status = 200;
    let headers: Readonly<Record<string, string>> = {};
    let body: Buffer;
    if (result.status === 'success') {
      body = encodeExportResponse(result.rejectedSpans, result.errorMessage, encoding);
    } else {
      ({ status, headers, body } = toHttpError(result.error, this.config.retry_delay_ms, encoding));
    }
    // A body refused unread is read and discarded, so the client finishes sending and reads the answer
    // (closing at once fails its upload with EPIPE, which exporters take for a network error and retry);
    // a body declared too large for that is cut off. During shutdown the connection closes after the
    // answer, so no idle keep-alive connection holds the server open.
    const unread = !req.complete;
    if (unread) discardBody(req);
    const close = this.closing !== undefined || (unread && Number(req.headers['content-length'] ?? 0) > MAX_DISCARD_BYTES);
    res.writeHead(status, { ...headers, 'content-type': CONTENT_TYPE_OF[encoding], 'content-length': body.length, ...(close ? { connection: 'close' } : {}) });
    res.end(body);
  }
}

/** Beyond this many bytes of a refused body, the connection is closed rather than the body discarded. */
const MAX_DISCARD_BYTES = 64 * 1024 * 1024;

function discardBody(req: http.IncomingMessage): void {
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > MAX_DISCARD_BYTES) req.socket.destroy();
  });
  req.resume();
}

/**
 * The request body, decompressed, of at most `limit` bytes. gunzip output is consumed as it is
 * produced and counted, so a small body that inflates without bound stops at the limit.
 */
async function readBody(req: http.IncomingMessage, gzip: boolean, limit: number): Promise<Buffer> {
  const tooLarge = () => new RunledgerError('REQUEST_TOO_LARGE', `request is larger than ${limit} bytes (max_recv_msg_size_mib)`);
  // gzip never shrinks a body by more than a few bytes per block: a declared length past the limit is over it.
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
  const inflate = gzip ? createGunzip() : undefined;
  if (inflate !== undefined) req.on('error', (err) => inflate.destroy(err));
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of inflate === undefined ? req : req.pipe(inflate)) {
      size += (chunk as Buffer).length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof RunledgerError) throw err;
    throw new RunledgerError('REQUEST_MALFORMED', `cannot read the request body: ${(err as Error).message}`, { cause: err });
  } finally {
    inflate?.destroy();
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

function sameTlsFiles(a: ReturnType<typeof readTlsOptions>, b: ReturnType<typeof readTlsOptions>): boolean {
  const same = (x: unknown, y: unknown) => (Buffer.isBuffer(x) && Buffer.isBuffer(y) ? x.equals(y) : x === y);
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca);
}
