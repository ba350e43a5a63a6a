/**
 * The fault suite's clients: each transport sends an encoded ExportTraceServiceRequest exactly as given
 * (malformed bytes, gzip bombs and all) and reports the status the server answered with. A transport is
 * one entry in TRANSPORTS; the fuzz, durability and overload sections run over every entry.
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { RETRY_INFO_TYPE_URL, RpcStatus, TRACE_SERVICE_EXPORT_PATH } from '../src/otlp/proto.js';

/** What came back: a status name (`OK`, `INVALID_ARGUMENT`, ...), or how the call failed without one. */
export interface Answer {
  /** A gRPC status name; `NO_STATUS` when the stream ended without one, `CONNECTION_LOST` on a reset. */
  readonly status: string;
  /** The refusal carried a google.rpc.RetryInfo detail (what exporters need to retry). */
  readonly retryInfo: boolean;
}

export interface ExportClient {
  /** Sends one request body; `gzip` sends it as is with the gzip encoding (it must be compressed). */
  send(body: Buffer, options?: { readonly gzip?: boolean }): Promise<Answer>;
  close(): void;
}

export interface Transport {
  readonly name: string;
  connect(server: { readonly grpcPort: number; readonly httpPort: number }): ExportClient;
  /** Compresses a body the way this transport's gzip encoding expects. */
  compress(body: Buffer): Buffer;
}

/** How long one call may take before it counts as unanswered (a hang guard on a busy machine). */
const CALL_TIMEOUT_MS = 120_000;

/** OTLP/gRPC over a raw HTTP/2 session: the length-prefixed frame is built here, so every byte is ours. */
export const grpcTransport: Transport = {
  name: 'otlp-grpc',
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
          const answer = (fields: Record<string, unknown>) => {
            const code = Number(fields['grpc-status']);
            const details = fields['grpc-status-details-bin'];
            finish({ status: Number.isInteger(code) ? (grpc.status[code] ?? String(code)) : 'NO_STATUS', retryInfo: hasRetryInfo(details) });
          };
          stream.setTimeout(CALL_TIMEOUT_MS, () => {
            finish({ status: 'TIMEOUT', retryInfo: false });
            stream.close();
          });
          stream.on('response', (h) => (headers = h));
          stream.on('trailers', (t) => answer({ ...headers, ...t }));
          stream.on('data', () => undefined);
          stream.on('end', () => answer(headers)); // a trailers-only answer carries its status in the headers
          stream.on('error', () => finish({ status: 'CONNECTION_LOST', retryInfo: false }));
          stream.on('close', () => finish({ status: 'CONNECTION_LOST', retryInfo: false }));
          stream.end(Buffer.concat([header, body]));
        }),
      close: () => session?.close(),
    };
  },
};

/** Every transport the suite exercises (the OTLP/HTTP receiver adds its entry here). */
export const TRANSPORTS: readonly Transport[] = [grpcTransport];

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
