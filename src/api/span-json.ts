import type { AttributeValue, Attributes } from '../otlp/attributes.js';
import type { RunSpan } from '../evidence/run-input.js';
import { isoTime } from '../evidence/steps.js';

/** A stored span as plain JSON: ids in hex, times in RFC 3339 and nanoseconds, bytes in base64. */
export function spanToJson(span: RunSpan): Record<string, unknown> {
  return {
    trace_id: span.traceId,
    span_id: span.spanId,
    parent_span_id: span.parentSpanId === '' ? null : span.parentSpanId,
    name: span.name,
    kind: span.kind,
    start_time: isoTime(span.startNs),
    end_time: isoTime(span.endNs),
    start_time_unix_nano: span.startNs.toString(),
    end_time_unix_nano: span.endNs.toString(),
    status: { code: span.statusCode, message: span.statusMessage },
    attributes: attributesToJson(span.attributes),
    resource: attributesToJson(span.resource),
    scope: span.scopeName,
    events: span.events.map((e) => ({ name: e.name, time_unix_nano: e.timeNs.toString(), attributes: attributesToJson(e.attributes) })),
    links: span.links.map((l) => ({ trace_id: l.traceId, span_id: l.spanId, attributes: attributesToJson(l.attributes) })),
  };
}

export function attributesToJson(attributes: Attributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(attributes)) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: AttributeValue): unknown {
  if (value instanceof Uint8Array) return { bytes_base64: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(valueToJson);
  if (typeof value === 'object') return attributesToJson(value);
  return value;
}
