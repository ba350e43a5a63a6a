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

/** One span as it arrived downstream: its exact bytes, and the resource and scope bytes around it. */
export interface ArrivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly body: Buffer;
  readonly resource: Buffer;
  readonly scope: Buffer;
}

/** What the downstream answers next: OK, or a refusal (with an optional RetryInfo delay). */
export type DownstreamAnswer =
  | { readonly kind: 'ok'; readonly rejected?: number }
  | { readonly kind: 'refuse'; readonly code: grpc.status; readonly retryDelayMs?: number };

export interface DownstreamCall {
  readonly path: string;
  readonly metadata: grpc.Metadata;
  readonly answer: DownstreamAnswer['kind'];
}

const identity = (b: Buffer): Buffer => b;

/**
 * A real grpc-js server serving the OTLP trace and logs services, as a Collector's otlp receiver would,
 * keeping every request's raw bytes so tests can compare spans byte for byte. `answer` decides each
 * reply (default OK); `holdMs` delays every reply.
 */
export class OtlpDownstream {
  readonly spans: ArrivedSpan[] = [];
  /** Decoded log records (protobufjs objects) of accepted LogsService requests. */
  readonly logRecords: Array<Record<string, unknown>> = [];
  readonly calls: DownstreamCall[] = [];
  answer: (path: string) => DownstreamAnswer = () => ({ kind: 'ok' });
  holdMs = 0;
  private server: grpc.Server | undefined;
  port = 0;

  async start(port = 0, credentials = grpc.ServerCredentials.createInsecure()): Promise<this> {
    const server = new grpc.Server();
    const handler = (path: string) => (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const answer = this.answer(path);
      this.calls.push({ path, metadata: call.metadata, answer: answer.kind });
      const reply = () => {
        if (answer.kind === 'refuse') return callback(refusal(answer.code, answer.retryDelayMs));
        const accepted = answer.rejected ?? 0;
        if (path === TRACE_SERVICE_EXPORT_PATH) {
          this.spans.push(...splitSpans(call.request));
          const response = accepted > 0 ? { partialSuccess: { rejectedSpans: accepted, errorMessage: 'test rejects' } } : {};
          return callback(null, Buffer.from(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(response)).finish()));
        }
        const request = ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.decode(call.request), { longs: String, bytes: String }) as {
          resourceLogs?: Array<{ scopeLogs?: Array<{ logRecords?: Array<Record<string, unknown>> }> }>;
        };
        for (const rl of request.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) this.logRecords.push(...(sl.logRecords ?? []));
        return callback(null, Buffer.from(ExportLogsServiceResponse.encode(ExportLogsServiceResponse.fromObject({})).finish()));
      };
      if (this.holdMs > 0) setTimeout(reply, this.holdMs);
      else reply();
    };
    const method = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    });
    server.addService(
      { Export: method(TRACE_SERVICE_EXPORT_PATH) } as grpc.ServiceDefinition,
      { Export: handler(TRACE_SERVICE_EXPORT_PATH) } as grpc.UntypedServiceImplementation,
    );
    server.addService(
      { Export: method(LOGS_SERVICE_EXPORT_PATH) } as grpc.ServiceDefinition,
      { Export: handler(LOGS_SERVICE_EXPORT_PATH) } as grpc.UntypedServiceImplementation,
    );
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    this.server = server;
    return this;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  spanIds(): Set<string> {
    return new Set(this.spans.map((s) => s.spanId));
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.tryShutdown(() => resolve()));
  }
}

function refusal(code: grpc.status, retryDelayMs: number | undefined): Partial<grpc.StatusObject> {
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
