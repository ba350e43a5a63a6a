/**
 * The fault suite's clients: each transport sends an encoded ExportTraceServiceRequest exactly as given
 * (malformed bytes, gzip bombs and all) and reports the status the server answered with. A transport is
 * one entry in TRANSPORTS; the fuzz, durability and overload sections run over every entry.
 */
import { Agent, request } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { ExportTraceServiceResponse, RETRY_INFO_TYPE_URL, RpcStatus, TRACE_SERVICE_EXPORT_PATH } from '../src/otlp/proto.js';

/** What came back: a status name (`OK`, `INVALID_ARGUMENT`, ...), or how the call failed without one. */
export interface Answer {
  /** A gRPC status name; `NO_STATUS` when the stream ended without one, `CONNECTION_LOST` on a reset. */
  readonly status: string;
  /** The refusal carried a google.rpc.RetryInfo detail, or Retry-After (what exporters need to retry). */
  readonly retryInfo: boolean;
  /** An OK answer's partial_success.rejected_spans. */
  readonly rejectedSpans?: number;
}

/** A status to count answers by: OK splits into OK and PARTIAL_SUCCESS (OK with spans rejected). */
export const answerLabel = (answer: Answer): string => (answer.status === 'OK' && (answer.rejectedSpans ?? 0) > 0 ? 'PARTIAL_SUCCESS' : answer.status);

export interface ExportClient {
  /** Sends one request body; `gzip` sends it as is with the gzip encoding (it must be compressed). */
  send(body: Buffer, options?: { readonly gzip?: boolean }): Promise<Answer>;
  close(): void;
}

export interface Transport {
  readonly name: string;
  /** Its receiver's config section under `receiver`. */
  readonly receiver: 'otlp_grpc' | 'otlp_http';
  connect(server: { readonly grpcPort: number; readonly otlpHttpPort: number }): ExportClient;
  /** Compresses a body the way this transport's gzip encoding expects. */
  compress(body: Buffer): Buffer;
}

/** How long one call may take before it counts as unanswered (a hang guard on a busy machine). */
const CALL_TIMEOUT_MS = 120_000;

/** OTLP/gRPC over a raw HTTP/2 session: the length-prefixed frame is built here, so every byte is ours. */
export const grpcTransport: Transport = {
  name: 'otlp-grpc',
  receiver: 'otlp_grpc',
  compress: (body) => gzipSync(body),
  connect(server) {
    let session: ClientHttp2Session | undefined;
    const open = () => {
      if (session === undefined || session.closed || session.destroyed) {
        session = connect(`http://127.0.0.1:${server.grpcPort}`);
        session.on('error', () => undefined); // reported per stream below
      }
      return session;
    };
    return {
      send: (body, options = {}) =>
        new Promise<Answer>((resolve) => {
          const header = Buffer.alloc(5);
          header.writeUInt8(options.gzip ? 1 : 0, 0);
          header.writeUInt32BE(body.length, 1);
          let headers: Record<string, unknown> = {};
          let done = false;
          const finish = (answer: Answer) => {
            if (done) return;
            done = true;
            resolve(answer);
          };
          let stream;
          try {
            stream = open().request({
              ':method': 'POST',
              ':path': TRACE_SERVICE_EXPORT_PATH,
              'content-type': 'application/grpc',
              te: 'trailers',
              'grpc-encoding': options.gzip ? 'gzip' : 'identity',
              'grpc-accept-encoding': 'identity',
            });
          } catch {
            finish({ status: 'CONNECTION_LOST', retryInfo: false });
            return;
          }
          const frames: Buffer[] = [];
          const answer = (fields: Record<string, unknown>) => {
            const code = Number(fields['grpc-status']);
            const details = fields['grpc-status-details-bin'];
            const message = Buffer.concat(frames).subarray(5); // one length-prefixed frame
            finish({
              status: Number.isInteger(code) ? (grpc.status[code] ?? String(code)) : 'NO_STATUS',
              retryInfo: hasRetryInfo(details),
              rejectedSpans: code === grpc.status.OK ? rejectedSpans(message) : 0,
            });
          };
          stream.setTimeout(CALL_TIMEOUT_MS, () => {
            finish({ status: 'TIMEOUT', retryInfo: false });
            stream.close();
          });
          stream.on('response', (h) => (headers = h));
          stream.on('trailers', (t) => answer({ ...headers, ...t }));
          stream.on('data', (chunk: Buffer) => frames.push(chunk));
          stream.on('end', () => answer(headers)); // a trailers-only answer carries its status in the headers
          stream.on('error', () => finish({ status: 'CONNECTION_LOST', retryInfo: false }));
          stream.on('close', () => finish({ status: 'CONNECTION_LOST', retryInfo: false }));
          stream.end(Buffer.concat([header, body]));
        }),
      close: () => session?.close(),
    };
  },
};

/**
 * OTLP/HTTP protobuf over node:http, one keep-alive connection per client. Its answers are counted
 * under the gRPC status the OTLP specification pairs with each HTTP code, so both transports' figures
 * read alike: 400 INVALID_ARGUMENT, 413 RESOURCE_EXHAUSTED, 429 and 503 UNAVAILABLE (Retry-After
 * counts as RetryInfo), 401 UNAUTHENTICATED, 500 INTERNAL; any other code as `HTTP_<code>`.
 */
export const httpTransport: Transport = {
  name: 'otlp-http',
  receiver: 'otlp_http',
  compress: (body) => gzipSync(body),
  connect(server) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    return {
      send: (body, options = {}) =>
        new Promise<Answer>((resolve) => {
          const call = request(
            {
              host: '127.0.0.1',
              port: server.otlpHttpPort,
              path: '/v1/traces',
              method: 'POST',
              agent,
              timeout: CALL_TIMEOUT_MS,
              headers: { 'content-type': 'application/x-protobuf', ...(options.gzip ? { 'content-encoding': 'gzip' } : {}) },
            },
            (response) => {
              const chunks: Buffer[] = [];
              response.on('data', (chunk: Buffer) => chunks.push(chunk));
              response.on('error', () => resolve({ status: 'CONNECTION_LOST', retryInfo: false }));
              response.on('end', () => {
                const code = response.statusCode ?? 0;
                resolve({
                  status: HTTP_AS_GRPC[code] ?? `HTTP_${code}`,
                  retryInfo: response.headers['retry-after'] !== undefined,
                  rejectedSpans: code === 200 ? rejectedSpans(Buffer.concat(chunks)) : 0,
                });
              });
            },
          );
          call.on('timeout', () => {
            resolve({ status: 'TIMEOUT', retryInfo: false });
            call.destroy();
          });
          call.on('error', () => resolve({ status: 'CONNECTION_LOST', retryInfo: false }));
          call.end(body);
        }),
      close: () => agent.destroy(),
    };
  },
};

const HTTP_AS_GRPC: Record<number, string> = {
  200: 'OK',
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  413: 'RESOURCE_EXHAUSTED',
  429: 'UNAVAILABLE',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/** Every transport the suite exercises. */
export const TRANSPORTS: readonly Transport[] = [grpcTransport, httpTransport];

/** partial_success.rejected_spans of an encoded ExportTraceServiceResponse (0 when unreadable). */
function rejectedSpans(message: Buffer): number {
  try {
    const response = ExportTraceServiceResponse.decode(message) as { partialSuccess?: { rejectedSpans?: number | { toNumber(): number } } };
    const rejected = response.partialSuccess?.rejectedSpans ?? 0;
    return typeof rejected === 'number' ? rejected : rejected.toNumber();
  } catch (err) {
    if (err instanceof Error) return 0;
    throw err;
  }
}

function hasRetryInfo(details: unknown): boolean {
  if (typeof details !== 'string') return false;
  try {
    const status = RpcStatus.decode(Buffer.from(details, 'base64')) as unknown as { details?: Array<{ type_url?: string; typeUrl?: string }> };
    return (status.details ?? []).some((d) => (d.typeUrl ?? d.type_url) === RETRY_INFO_TYPE_URL);
  } catch (err) {
    if (err instanceof Error) return false; // an undecodable detail is not a RetryInfo
    throw err;
  }
}
