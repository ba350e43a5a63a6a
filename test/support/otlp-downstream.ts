import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import {
  ExportLogsServiceRequest,
  ExportLogsServiceResponse,
  ExportTraceServiceResponse,
  LOGS_SERVICE_EXPORT_PATH,
  Reader,
  RETRY_INFO_TYPE_URL,
  RetryInfo,
  RpcStatus,
  TRACE_SERVICE_EXPORT_PATH,
} from '../../src/otlp/proto.js';
import { rawExportMethod } from '../../src/otlp/raw-grpc-method.js';

/** One span as it arrived downstream: its exact bytes, and the resource and scope bytes around it. */
export interface ArrivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly body: Buffer;
  readonly resource: Buffer;
  readonly scope: Buffer;
}

/**
 * What the downstream answers next: OK, or a refusal (with an optional retry delay: a RetryInfo over
 * gRPC, Retry-After in whole seconds, rounded up, over HTTP).
 */
export type DownstreamAnswer =
  | { readonly kind: 'ok'; readonly rejected?: number }
  | { readonly kind: 'refuse'; readonly code: grpc.status; readonly retryDelayMs?: number };

export type DownstreamProtocol = 'grpc' | 'http/protobuf';
export type DownstreamSignal = 'traces' | 'logs';

export interface DownstreamCall {
  readonly signal: DownstreamSignal;
  /** gRPC metadata or HTTP request headers. */
  readonly headers: Readonly<Record<string, unknown>>;
  readonly answer: DownstreamAnswer['kind'];
  /** When the request arrived (Date.now()). */
  readonly at: number;
}

/** The HTTP status an OTLP/HTTP server answers where a gRPC one would answer `code`. */
const HTTP_STATUS: Partial<Record<grpc.status, number>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.UNIMPLEMENTED]: 404,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
};

const GRPC_PATHS: Readonly<Record<DownstreamSignal, string>> = { traces: TRACE_SERVICE_EXPORT_PATH, logs: LOGS_SERVICE_EXPORT_PATH };
const HTTP_PATHS: Readonly<Record<string, DownstreamSignal>> = { '/v1/traces': 'traces', '/v1/logs': 'logs' };

/**
 * A real OTLP server for the trace and logs services, as a Collector's otlp receiver would be: grpc-js
 * over gRPC, node:http over OTLP/HTTP (protobuf, gzip or not, at /v1/traces and /v1/logs). It keeps
 * every request's raw bytes so tests can compare spans byte for byte. `answer` decides each reply
 * (default OK); `holdMs` delays every reply.
 */
export class OtlpDownstream {
  readonly spans: ArrivedSpan[] = [];
  /** Decoded log records (protobufjs objects) of accepted logs requests. */
  readonly logRecords: Array<Record<string, unknown>> = [];
  readonly calls: DownstreamCall[] = [];
  answer: (signal: DownstreamSignal) => DownstreamAnswer = () => ({ kind: 'ok' });
  holdMs = 0;
  private stopServer: (() => Promise<void>) | undefined;
  port = 0;

  constructor(readonly protocol: DownstreamProtocol = 'grpc') {}

  async start(): Promise<this> {
    this.port = this.protocol === 'grpc' ? await this.startGrpc() : await this.startHttp();
    return this;
  }

  /** The endpoint to give runledger's exporters.otlp for this protocol. */
  get endpoint(): string {
    return this.protocol === 'grpc' ? `127.0.0.1:${this.port}` : `http://127.0.0.1:${this.port}`;
  }

  spanIds(): Set<string> {
    return new Set(this.spans.map((s) => s.spanId));
  }

  stop(): Promise<void> {
    const stop = this.stopServer;
    this.stopServer = undefined;
    return stop === undefined ? Promise.resolve() : stop();
  }

  /** Records a call and decides its answer: an Export*ServiceResponse, or the refusal. */
  private receive(signal: DownstreamSignal, headers: Record<string, unknown>, request: Buffer): { answer: DownstreamAnswer; response?: Buffer } {
    const answer = this.answer(signal);
    this.calls.push({ signal, headers, answer: answer.kind, at: Date.now() });
    if (answer.kind === 'refuse') return { answer };
    const rejected = answer.rejected ?? 0;
    if (signal === 'traces') {
      this.spans.push(...splitSpans(request));
      const response = rejected > 0 ? { partialSuccess: { rejectedSpans: rejected, errorMessage: 'test rejects' } } : {};
      return { answer, response: Buffer.from(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(response)).finish()) };
    }
    const decoded = ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.decode(request), { longs: String, bytes: String }) as {
      resourceLogs?: Array<{ scopeLogs?: Array<{ logRecords?: Array<Record<string, unknown>> }> }>;
    };
    for (const rl of decoded.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) this.logRecords.push(...(sl.logRecords ?? []));
    return { answer, response: Buffer.from(ExportLogsServiceResponse.encode(ExportLogsServiceResponse.fromObject({})).finish()) };
  }

  private held(reply: () => void): void {
    if (this.holdMs > 0) setTimeout(reply, this.holdMs);
    else reply();
  }

  private async startGrpc(): Promise<number> {
    const server = new grpc.Server();
    const handler = (signal: DownstreamSignal) => (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const { answer, response } = this.receive(signal, call.metadata.getMap(), call.request);
      this.held(() => (answer.kind === 'refuse' ? callback(grpcRefusal(answer.code, answer.retryDelayMs)) : callback(null, response)));
    };
    for (const signal of ['traces', 'logs'] as const) {
      server.addService({ Export: rawExportMethod(GRPC_PATHS[signal]) } as grpc.ServiceDefinition, { Export: handler(signal) } as grpc.UntypedServiceImplementation);
    }
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    this.stopServer = () => new Promise((resolve) => server.tryShutdown(() => resolve()));
    return port;
  }

  private async startHttp(): Promise<number> {
    const server: HttpServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const signal = HTTP_PATHS[req.url ?? ''];
        if (req.method !== 'POST' || signal === undefined) return void res.writeHead(404).end();
        const raw = Buffer.concat(chunks);
        const { answer, response } = this.receive(signal, { ...req.headers }, req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw);
        this.held(() => {
          if (answer.kind === 'ok') return void res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(response);
          const delay = answer.retryDelayMs === undefined ? {} : { 'retry-after': String(Math.ceil(answer.retryDelayMs / 1000)) };
          res.writeHead(HTTP_STATUS[answer.code] ?? 500, { 'content-type': 'application/x-protobuf', ...delay });
          res.end(RpcStatus.encode(RpcStatus.fromObject({ code: answer.code, message: 'test refuses' })).finish());
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.stopServer = () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    return (server.address() as AddressInfo).port;
  }
}

function grpcRefusal(code: grpc.status, retryDelayMs: number | undefined): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (retryDelayMs !== undefined) {
    const retryInfo = RetryInfo.encode(
      RetryInfo.fromObject({ retryDelay: { seconds: Math.floor(retryDelayMs / 1000), nanos: (retryDelayMs % 1000) * 1e6 } }),
    ).finish();
    const status = RpcStatus.encode(
      RpcStatus.fromObject({ code, message: 'test refuses', details: [{ type_url: RETRY_INFO_TYPE_URL, value: retryInfo }] }),
    ).finish();
    metadata.set('grpc-status-details-bin', Buffer.from(status));
  }
  return { code, details: 'test refuses', metadata };
}

/** The length-delimited fields `field` of a message, as byte ranges of `buf`. */
function fieldsOf(buf: Buffer, field: number): Buffer[] {
  const r = Reader.create(buf);
  const out: Buffer[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === field && (tag & 7) === 2) {
      const length = r.uint32();
      out.push(buf.subarray(r.pos, r.pos + length));
      r.skip(length);
    } else r.skipType(tag & 7);
  }
  return out;
}

/** Every span of an ExportTraceServiceRequest with its exact bytes. */
export function splitSpans(request: Buffer): ArrivedSpan[] {
  const spans: ArrivedSpan[] = [];
  for (const rs of fieldsOf(request, 1)) {
    const resource = fieldsOf(rs, 1)[0] ?? Buffer.alloc(0);
    for (const ss of fieldsOf(rs, 2)) {
      const scope = fieldsOf(ss, 1)[0] ?? Buffer.alloc(0);
      for (const body of fieldsOf(ss, 2)) {
        spans.push({
          traceId: (fieldsOf(body, 1)[0] ?? Buffer.alloc(0)).toString('hex'),
          spanId: (fieldsOf(body, 2)[0] ?? Buffer.alloc(0)).toString('hex'),
          body: Buffer.from(body),
          resource: Buffer.from(resource),
          scope: Buffer.from(scope),
        });
      }
    }
  }
  return spans;
}
