import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { ExportTraceServiceRequest, ExportTraceServiceResponse } from '../../src/otlp/proto.js';
import { decodeStatusDetails, retryInfosOf, toNumber } from './otlp-request.js';
import { grpcFrame, http2Export, RawOtlpClient } from './raw-otlp-client.js';

/** The three ways an OTLP exporter sends traces: gRPC, and HTTP with a protobuf or a JSON body. */
export type TransportName = 'grpc' | 'http/protobuf' | 'http/json';

/** What an Export came back with, in terms every transport can be compared on. */
export interface TransportOutcome {
  /** The transport's own answer: a gRPC status name (`OK`, `UNAVAILABLE`) or an HTTP status (`200`, `503`). */
  readonly wire: string;
  /** The error message (grpc-message, or the google.rpc.Status body's message); '' on success. */
  readonly message: string;
  /** partial_success as answered: undefined when the field was not set. */
  readonly partialSuccess?: { readonly rejectedSpans: number; readonly errorMessage: string };
  /** The retry delay asked for: RetryInfo over gRPC, Retry-After over HTTP (whole seconds, as ms). */
  readonly retryDelayMs?: number;
  /** HTTP only: the RetryInfo delays in the Status body. */
  readonly statusRetryDelaysMs?: readonly number[];
}

export interface SendOptions {
  readonly gzip?: boolean;
  readonly authorization?: string | undefined;
}

export interface OtlpTransport {
  readonly name: TransportName;
  /** Sends an ExportTraceServiceRequest given in its protobuf encoding (converted for JSON). */
  export(request: Buffer, options?: SendOptions): Promise<TransportOutcome>;
  /** Sends bytes exactly as given (for malformed input), in this transport's content type. */
  exportRaw(body: Buffer, options?: SendOptions): Promise<TransportOutcome>;
  /** Bytes this transport's decoder must refuse. */
  readonly malformed: Buffer;
  close(): void;
}

export interface TransportPorts {
  readonly grpcPort: number;
  readonly otlpHttpPort: number;
}

export function createTransport(name: TransportName, ports: TransportPorts): OtlpTransport {
  return name === 'grpc' ? grpcTransport(ports.grpcPort) : httpTransport(name, ports.otlpHttpPort);
}

function grpcTransport(port: number): OtlpTransport {
  const client = new RawOtlpClient(port);
  const send = async (body: Buffer, options: SendOptions = {}): Promise<TransportOutcome> => {
    const headers: Record<string, string> = options.authorization === undefined ? {} : { authorization: options.authorization };
    if (options.gzip === true) {
      // Plain HTTP/2 with a compressed frame: the only way to be sure the bytes on the wire are gzip.
      const outcome = await http2Export(port, grpcFrame(gzipSync(body), true), 'gzip', { headers });
      return { wire: grpc.status[outcome.code] ?? String(outcome.code), message: outcome.message };
    }
    const outcome = await client.export(body, 15_000, headers);
    const wire = grpc.status[outcome.code] ?? String(outcome.code);
    if (outcome.code !== grpc.status.OK) {
      const [retryDelayMs] = retryInfosOf(outcome.statusDetails);
      return { wire, message: outcome.details, ...(retryDelayMs === undefined ? {} : { retryDelayMs }) };
    }
    return { wire, message: '', ...partialOf(ExportTraceServiceResponse.decode(outcome.response!)) };
  };
  return {
    name: 'grpc',
    export: send,
    exportRaw: send,
    malformed: Buffer.from('this is not protobuf'),
    close: () => client.close(),
  };
}

function httpTransport(name: 'http/protobuf' | 'http/json', port: number): OtlpTransport {
  const json = name === 'http/json';
  const contentType = json ? 'application/json' : 'application/x-protobuf';
  const exportRaw = async (body: Buffer, options: SendOptions = {}): Promise<TransportOutcome> => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
      method: 'POST',
      headers: {
        'content-type': contentType,
        ...(options.gzip === true ? { 'content-encoding': 'gzip' } : {}),
        ...(options.authorization === undefined ? {} : { authorization: options.authorization }),
      },
      body: options.gzip === true ? gzipSync(body) : body,
    });
    const answer = Buffer.from(await response.arrayBuffer());
    const wire = String(response.status);
    const retryAfter = response.headers.get('retry-after');
    const retry = retryAfter === null ? {} : { retryDelayMs: Number(retryAfter) * 1000 };
    if (response.status === 200) {
      const decoded = json ? JSON.parse(answer.toString()) : ExportTraceServiceResponse.decode(answer);
      return { wire, message: '', ...partialOf(decoded), ...retry };
    }
    if (json) {
      const status = JSON.parse(answer.toString()) as { message: string; details: Array<{ '@type': string; retryDelay: string }> };
      const delays = status.details.filter((d) => d['@type'].endsWith('google.rpc.RetryInfo')).map((d) => parseFloat(d.retryDelay) * 1000);
      return { wire, message: status.message, statusRetryDelaysMs: delays, ...retry };
    }
    const status = decodeStatusDetails(answer);
    return { wire, message: status.message, statusRetryDelaysMs: retryInfosOf(answer), ...retry };
  };
  return {
    name,
    export: (request, options) => exportRaw(json ? Buffer.from(toOtlpJson(request)) : request, options),
    exportRaw,
    malformed: Buffer.from(json ? '{"resourceSpans": [' : 'this is not protobuf'),
    close: () => undefined,
  };
}

function partialOf(response: unknown): Pick<TransportOutcome, 'partialSuccess'> {
  const partial = (response as { partialSuccess?: { rejectedSpans?: unknown; errorMessage?: string } | null }).partialSuccess;
  if (partial === undefined || partial === null) return {};
  const rejected = partial.rejectedSpans;
  return {
    partialSuccess: {
      rejectedSpans: typeof rejected === 'string' ? Number(rejected) : toNumber(rejected as number | undefined),
      errorMessage: partial.errorMessage ?? '',
    },
  };
}

/**
 * An encoded ExportTraceServiceRequest as OTLP/JSON, the way the specification writes it (and the
 * OTel JS JSON exporter sends it): lowerCamelCase keys, hex trace and span ids, integer enums,
 * 64-bit integers as decimal strings, other bytes as base64.
 */
export function toOtlpJson(protobuf: Buffer): string {
  const message = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(protobuf), {
    longs: String,
    enums: Number,
    bytes: String,
  }) as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }> };
  const hex = (value: unknown) => Buffer.from(String(value), 'base64').toString('hex');
  for (const rs of message.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        for (const key of ['traceId', 'spanId', 'parentSpanId']) if (key in span) span[key] = hex(span[key]);
        for (const link of (span.links as Array<Record<string, unknown>> | undefined) ?? []) {
          link.traceId = hex(link.traceId);
          link.spanId = hex(link.spanId);
        }
      }
    }
  }
  return JSON.stringify(message);
}
