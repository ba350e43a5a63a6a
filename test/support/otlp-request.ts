import { randomBytes } from 'node:crypto';
import {
  ExportRequestView,
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
  RETRY_INFO_TYPE_URL,
  RetryInfo,
  RpcStatus,
  Span,
} from '../../src/otlp/proto.js';

/** One span of a hand-built request; ids are raw bytes so tests can make them invalid on purpose. */
export interface SpanSpec {
  readonly name: string;
  readonly traceId?: Buffer;
  readonly spanId?: Buffer;
  readonly parentSpanId?: Buffer;
  readonly startNs?: bigint;
  readonly endNs?: bigint;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly status?: { readonly code: number; readonly message?: string };
  readonly events?: ReadonlyArray<{ readonly name: string }>;
}

export interface ResourceSpec {
  readonly attributes?: Readonly<Record<string, string>>;
  readonly spans: readonly SpanSpec[];
}

export const newTraceId = (): Buffer => randomBytes(16);
export const newSpanId = (): Buffer => randomBytes(8);

const keyValues = (attributes: Readonly<Record<string, string>> = {}) =>
  Object.entries(attributes).map(([key, value]) => ({ key, value: { stringValue: value } }));

/** A valid request of `count` spans of one workflow trace (run id `<prefix>-run`), with its span ids in hex. */
export function workflowRequest(prefix: string, count: number): { body: Buffer; spanIds: string[] } {
  const traceId = newTraceId();
  const spans: SpanSpec[] = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`,
    traceId,
    spanId: newSpanId(),
    attributes: { 'nhi.workflow.run.id': `${prefix}-run` },
  }));
  return { body: encodeExportRequest([{ spans }]), spanIds: spans.map((s) => s.spanId!.toString('hex')) };
}

/** Encodes an ExportTraceServiceRequest (one scope per resource) with protobufjs, as a client would. */
export function encodeExportRequest(resources: readonly ResourceSpec[]): Buffer {
  const now = BigInt(Date.now()) * 1_000_000n;
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: resources.map((r) => ({
      resource: { attributes: keyValues(r.attributes ?? { 'service.name': 'e2e' }) },
      scopeSpans: [
        {
          scope: { name: 'runledger-e2e', version: '1' },
          spans: r.spans.map((s) => ({
            traceId: s.traceId ?? newTraceId(),
            spanId: s.spanId ?? newSpanId(),
            parentSpanId: s.parentSpanId ?? Buffer.alloc(0),
            name: s.name,
            kind: 1,
            // fixed64 nanoseconds exceed 2^53: pass them as decimal strings so nothing is rounded.
            startTimeUnixNano: String(s.startNs ?? now - 1_000_000n),
            endTimeUnixNano: String(s.endNs ?? now),
            attributes: keyValues(s.attributes),
            ...(s.status !== undefined ? { status: s.status } : {}),
            ...(s.events !== undefined ? { events: s.events.map((e) => ({ name: e.name, timeUnixNano: String(now) })) } : {}),
          })),
        },
      ],
    })),
  });
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}

export interface DecodedExportResponse {
  readonly partialSuccess?: { rejectedSpans?: { toNumber(): number } | number; errorMessage?: string } | null;
}

export function decodeExportResponse(body: Uint8Array): DecodedExportResponse {
  return ExportTraceServiceResponse.decode(body) as unknown as DecodedExportResponse;
}

/** A decoded `grpc-status-details-bin` value (google.rpc.Status). */
export interface StatusDetails {
  readonly code: number;
  readonly message: string;
  readonly details: ReadonlyArray<{ readonly typeUrl: string; readonly value: Buffer }>;
}

export function decodeStatusDetails(statusDetails: Buffer): StatusDetails {
  const status = RpcStatus.decode(statusDetails) as unknown as {
    code?: number;
    message?: string;
    // protobufjs serves google/protobuf/any.proto from its bundled copy, which keeps `type_url`.
    details?: Array<{ type_url?: string; typeUrl?: string; value?: Uint8Array }>;
  };
  return {
    code: status.code ?? 0,
    message: status.message ?? '',
    details: (status.details ?? []).map((d) => ({
      typeUrl: d.type_url ?? d.typeUrl ?? '',
      value: Buffer.from(d.value ?? new Uint8Array(0)),
    })),
  };
}

/** Decodes the bytes of a google.rpc.RetryInfo and returns its retry_delay in milliseconds. */
export function retryDelayMsOf(retryInfo: Uint8Array): number {
  const info = RetryInfo.decode(retryInfo) as unknown as {
    retryDelay?: { seconds?: { toNumber(): number } | number; nanos?: number };
  };
  return toNumber(info.retryDelay?.seconds) * 1000 + (info.retryDelay?.nanos ?? 0) / 1e6;
}

/** The retry delays (ms) of the details named google.rpc.RetryInfo; empty when there is none. */
export function retryInfosOf(statusDetails: Buffer | undefined): number[] {
  if (statusDetails === undefined) return [];
  return decodeStatusDetails(statusDetails)
    .details.filter((d) => d.typeUrl === RETRY_INFO_TYPE_URL)
    .map((d) => retryDelayMsOf(d.value));
}

export const toNumber = (value: { toNumber(): number } | number | undefined): number =>
  value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber();

/** Span id (hex) → the exact bytes of that span inside an encoded ExportTraceServiceRequest. */
export function spanBytesById(request: Uint8Array): Map<string, Buffer> {
  const view = ExportRequestView.decode(request) as unknown as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Uint8Array[] }> }> };
  const out = new Map<string, Buffer>();
  for (const rs of view.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const bytes of ss.spans ?? []) {
        out.set(Buffer.from((Span.decode(bytes) as unknown as { spanId: Uint8Array }).spanId).toString('hex'), Buffer.from(bytes));
      }
    }
  }
  return out;
}
