import { Span, Resource, InstrumentationScope, Long } from './proto.js';
import { toAttributes, type Attributes, type KeyValueMessage } from './attributes.js';
import { hex, spanBasics, toNanos, type SpanBasicsMessage } from './intake-request.js';

export interface SpanEvent {
  readonly name: string;
  readonly timeNs: bigint;
  readonly attributes: Attributes;
}

export interface SpanLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: Attributes;
}

/** A stored span decoded in full, for evaluation and display. */
export interface DecodedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly attributes: Attributes;
  readonly events: readonly SpanEvent[];
  readonly links: readonly SpanLink[];
}

interface SpanMessage extends SpanBasicsMessage {
  attributes?: KeyValueMessage[];
  events?: Array<{ name?: string; timeUnixNano?: Long; attributes?: KeyValueMessage[] }>;
  links?: Array<{ traceId?: Buffer; spanId?: Buffer; attributes?: KeyValueMessage[] }>;
  status?: { code?: number; message?: string } | null;
}

export function decodeStoredSpan(body: Uint8Array): DecodedSpan {
  const m = Span.decode(body) as SpanMessage;
  return {
    ...spanBasics(m),
    statusMessage: m.status?.message ?? '',
    attributes: toAttributes(m.attributes),
    events: (m.events ?? []).map((e) => ({ name: e.name ?? '', timeNs: toNanos(e.timeUnixNano), attributes: toAttributes(e.attributes) })),
    links: (m.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: toAttributes(l.attributes) })),
  };
}

export interface DecodedScope {
  readonly name: string;
  readonly version: string;
}

export function decodeStoredResource(body: Uint8Array): Attributes {
  if (body.length === 0) return {};
  return toAttributes((Resource.decode(body) as { attributes?: KeyValueMessage[] }).attributes);
}

export function decodeStoredScope(body: Uint8Array): DecodedScope {
  if (body.length === 0) return { name: '', version: '' };
  const m = InstrumentationScope.decode(body) as { name?: string; version?: string };
  return { name: m.name ?? '', version: m.version ?? '' };
}
