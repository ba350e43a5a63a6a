import { connect, constants as h2 } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { TRACE_SERVICE_EXPORT_PATH } from '../../src/otlp/proto.js';
import { PATIENCE_MS } from './patience.js';

/** What a raw Export call came back with: the status, and the answer body or the trailers. */
export interface ExportOutcome {
  readonly code: grpc.status;
  readonly details: string;
  /** The encoded ExportTraceServiceResponse, on OK. */
  readonly response?: Buffer;
  /** The encoded google.rpc.Status from `grpc-status-details-bin`, when the server sent one. */
  readonly statusDetails?: Buffer;
}

const identity = (b: Buffer): Buffer => b;

/**
 * A grpc-js client that sends pre-encoded bytes to TraceService/Export, so tests control every byte
 * (malformed and oversize input included) and see the status and trailers as sent.
 */
export class RawOtlpClient {
  private readonly client: grpc.Client;

  constructor(port: number, options: grpc.ChannelOptions = {}) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  }

  export(body: Uint8Array, deadlineMs = PATIENCE_MS, headers: Readonly<Record<string, string>> = {}): Promise<ExportOutcome> {
    return new Promise<ExportOutcome>((resolve) => {
      try {
        this.call(body, deadlineMs, headers, resolve);
      } catch (err) {
        // e.g. "Channel has been shut down": a client-side failure, never an acknowledgement.
        resolve({ code: grpc.status.CANCELLED, details: `client: ${(err as Error).message}` });
      }
    });
  }

  private call(body: Uint8Array, deadlineMs: number, headers: Readonly<Record<string, string>>, resolve: (outcome: ExportOutcome) => void): void {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
    this.client.makeUnaryRequest<Buffer, Buffer>(
      TRACE_SERVICE_EXPORT_PATH,
      identity,
      identity,
      Buffer.from(body),
      metadata,
      { deadline: Date.now() + deadlineMs },
      (err, value) => {
        if (err) {
          const details = err.metadata?.get('grpc-status-details-bin')[0];
          resolve({
            code: err.code,
            details: err.details,
            statusDetails: Buffer.isBuffer(details) ? details : undefined,
          });
        } else {
          resolve({ code: grpc.status.OK, details: '', response: value ?? Buffer.alloc(0) });
        }
      },
    );
  }

  close(): void {
    this.client.close();
  }
}

/** A gRPC length-prefixed message frame (gRPC over HTTP/2 spec). */
export function grpcFrame(payload: Buffer, compressed: boolean): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export interface Http2Outcome {
  readonly code: number;
  readonly message: string;
  /** Bytes of the request on the wire (the frame), for asserting it was small. */
  readonly sentBytes: number;
}

export interface Http2ExportOptions {
  /** Send only this many bytes of the frame, then run `whilePaused`, then the rest. */
  readonly pauseAfterBytes?: number;
  readonly whilePaused?: () => Promise<void>;
  /** Extra request headers, e.g. `authorization`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Sends one hand-made gRPC frame over plain node:http2, with no gRPC library in between: the only way
 * to be sure what `grpc-encoding` and compressed bytes the server received, or to leave a request
 * half-sent on purpose.
 */
export function http2Export(
  port: number,
  frame: Buffer,
  encoding: 'gzip' | 'identity',
  options: Http2ExportOptions = {},
): Promise<Http2Outcome> {
  return new Promise<Http2Outcome>((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const headers: Record<string, string> = {
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: TRACE_SERVICE_EXPORT_PATH,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      ...options.headers,
    };
    if (encoding !== 'identity') headers['grpc-encoding'] = encoding;
    const stream = session.request(headers);
    let code: number | undefined;
    let message = '';
    const take = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) code = Number(h['grpc-status']);
      if (typeof h['grpc-message'] === 'string') message = decodeURIComponent(h['grpc-message']);
    };
    // A trailers-only answer carries grpc-status in the response headers.
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => {
      session.close();
      if (code === undefined) reject(new Error('no grpc-status received'));
      else resolve({ code, message, sentBytes: frame.length });
    });
    const { pauseAfterBytes, whilePaused } = options;
    if (pauseAfterBytes === undefined) {
      stream.end(frame);
      return;
    }
    stream.write(frame.subarray(0, pauseAfterBytes));
    (whilePaused ?? (() => Promise.resolve()))().then(
      () => stream.end(frame.subarray(pauseAfterBytes)),
      (err: unknown) => {
        stream.destroy();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
