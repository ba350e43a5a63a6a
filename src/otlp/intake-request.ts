import { ExportRequestView, Resource } from './proto.js';
import type { KeySelector } from './key-selector.js';
import { decodeSpanFields } from './stored-span.js';
import { toAttributes, type Attributes, type KeyValueMessage } from './attributes.js';
import { WireFormatError, wireProblem } from './wire-check.js';

/** A span as intake sees it: routing fields decoded, everything else kept as the exact OTLP bytes. */
export interface IntakeSpan {
  readonly traceId: string; // lowercase hex, 32 chars when valid
  readonly spanId: string; // lowercase hex, 16 chars when valid
  readonly parentSpanId: string; // '' for a trace root
  readonly name: string;
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly statusCode: number; // 0 unset, 1 ok, 2 error
  readonly statusMessage: string;
  /** The attributes intake decoded: those routing reads (see KeySelector), or all of them. */
  readonly attributes: Attributes;
  /** The encoded opentelemetry.proto.trace.v1.Span. */
  readonly body: Uint8Array;
  /** Where a string of this span is not UTF-8 (the span is refused, the request's others kept). */
  readonly notUtf8?: string;
  /** Values erased before storage in this span, its scope or its resource (DESIGN §7 manifest). */
  readonly redactions?: readonly SpanRedaction[];
}

export interface SpanRedaction {
  readonly target: 'resource' | 'scope' | 'span';
  /** Path inside the message: `attributes.password`, `events[0].attributes.token`. */
  readonly key: string;
  readonly reason: string;
}

export interface IntakeScope {
  /** The encoded InstrumentationScope (empty when absent). */
  readonly body: Uint8Array;
  readonly schemaUrl: string;
  readonly spans: readonly IntakeSpan[];
}

export interface IntakeResource {
  /** The encoded Resource (empty when absent). */
  readonly body: Uint8Array;
  readonly attributes: Attributes;
  readonly schemaUrl: string;
  readonly scopes: readonly IntakeScope[];
}

export interface IntakeRequest {
  readonly resources: readonly IntakeResource[];
  readonly spanCount: number;
}

interface ViewMessage {
  resourceSpans?: Array<{
    resource?: Uint8Array;
    schemaUrl?: string;
    scopeSpans?: Array<{ scope?: Uint8Array; schemaUrl?: string; spans?: Uint8Array[] }>;
  }>;
}

const EMPTY = new Uint8Array(0);

/** An absent `bytes` field reads as protobufjs' default, an empty *array*: storage needs bytes. */
function bytesOf(field: Uint8Array | undefined): Uint8Array {
  return field === undefined || field.length === 0 ? EMPTY : field;
}

/**
 * Decodes an ExportTraceServiceRequest for intake: of each span's attributes, those `select` picks
 * (all when undefined). Throws when the bytes are not a valid encoding, or a string outside the spans
 * is not UTF-8; the receiver maps that to INVALID_ARGUMENT.
 */
export function decodeIntakeRequest(bytes: Uint8Array, select?: KeySelector): IntakeRequest {
  const decodeSpan = (body: Uint8Array): IntakeSpan => {
    const notUtf8 = wireProblem('span', body);
    const span = decodeSpanFields(body, select);
    // One literal, no spread: spreading a helper's result cost three times the whole decode.
    return {
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId,
      name: span.name,
      kind: span.kind,
      startNs: span.startNs,
      endNs: span.endNs,
      statusCode: span.statusCode,
      statusMessage: span.statusMessage,
      attributes: span.attributes,
      body,
      notUtf8,
    };
  };
  refuseNotUtf8('request', bytes);
  const view = ExportRequestView.decode(bytes) as ViewMessage;
  let spanCount = 0;
  const resources = (view.resourceSpans ?? []).map((rs): IntakeResource => {
    const resourceBody = bytesOf(rs.resource);
    refuseNotUtf8('resource', resourceBody);
    const resource = resourceBody.length > 0 ? (Resource.decode(resourceBody) as { attributes?: KeyValueMessage[] }) : {};
    const scopes = (rs.scopeSpans ?? []).map((ss): IntakeScope => {
      const spans = (ss.spans ?? []).map(decodeSpan);
      spanCount += spans.length;
      const scopeBody = bytesOf(ss.scope);
      refuseNotUtf8('scope', scopeBody);
      return { body: scopeBody, schemaUrl: ss.schemaUrl ?? '', spans };
    });
    return { body: resourceBody, attributes: toAttributes(resource.attributes), schemaUrl: rs.schemaUrl ?? '', scopes };
  });
  return { resources, spanCount };
}

/** Outside a span, a string that is not UTF-8 concerns every span it covers: the request is refused. */
function refuseNotUtf8(message: 'request' | 'resource' | 'scope', body: Uint8Array): void {
  const notUtf8 = wireProblem(message, body);
  if (notUtf8 !== undefined) throw new WireFormatError(`${notUtf8} is not valid UTF-8`);
}

const MAX_SQLITE_INTEGER = (1n << 63n) - 1n;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/** Why a span cannot be accepted, or undefined when it is valid (OTLP: ids are 16 and 8 non-zero bytes). */
export function spanProblem(span: IntakeSpan): string | undefined {
  if (span.notUtf8 !== undefined) return `${span.notUtf8} is not valid UTF-8`;
  if (span.traceId.length !== 32) return `trace_id must be 16 bytes, got ${span.traceId.length / 2}`;
  if (span.traceId === ZERO_TRACE_ID) return 'trace_id must not be all zero';
  if (span.spanId.length !== 16) return `span_id must be 8 bytes, got ${span.spanId.length / 2}`;
  if (span.spanId === ZERO_SPAN_ID) return 'span_id must not be all zero';
  if (span.parentSpanId !== '' && span.parentSpanId.length !== 16) {
    return `parent_span_id must be empty or 8 bytes, got ${span.parentSpanId.length / 2}`;
  }
  if (span.startNs > MAX_SQLITE_INTEGER || span.endNs > MAX_SQLITE_INTEGER) return 'timestamp out of range';
  if (span.endNs < span.startNs) return 'end_time_unix_nano is before start_time_unix_nano';
  return undefined;
}
