import { Writer } from '../../otlp/proto.js';
import type { StoredPart } from '../../store/forward-store.js';

/** One span to forward: its bytes (stored, maybe with attributes appended) and where it came from. */
export interface OutgoingSpan {
  readonly body: Uint8Array;
  readonly resourceId: number;
  readonly resource: StoredPart;
  readonly scopeId: number;
  readonly scope: StoredPart;
}

// Field tags (field number << 3 | wire type 2, length-delimited) of opentelemetry.proto.trace.v1.
const RESOURCE_SPANS = (1 << 3) | 2; // ExportTraceServiceRequest.resource_spans
const RESOURCE = (1 << 3) | 2; // ResourceSpans.resource
const SCOPE_SPANS = (2 << 3) | 2; // ResourceSpans.scope_spans
const SCHEMA_URL = (3 << 3) | 2; // ResourceSpans.schema_url, ScopeSpans.schema_url
const SCOPE = (1 << 3) | 2; // ScopeSpans.scope
const SPAN = (2 << 3) | 2; // ScopeSpans.spans

/**
 * An ExportTraceServiceRequest written around stored bytes: each resource, scope and span goes out
 * exactly as stored, so a span differs from what the sender sent only by redactions and appended
 * attributes. Spans are grouped by resource, then scope, in the order given.
 */
export function encodeTraceRequest(spans: readonly OutgoingSpan[]): Uint8Array {
  const byResource = new Map<number, Map<number, OutgoingSpan[]>>();
  for (const span of spans) {
    let scopes = byResource.get(span.resourceId);
    if (scopes === undefined) byResource.set(span.resourceId, (scopes = new Map()));
    const list = scopes.get(span.scopeId);
    if (list === undefined) scopes.set(span.scopeId, [span]);
    else list.push(span);
  }
  const w = Writer.create();
  for (const scopes of byResource.values()) {
    const { resource } = scopes.values().next().value![0]!;
    w.uint32(RESOURCE_SPANS).fork();
    if (resource.body.length > 0) w.uint32(RESOURCE).bytes(resource.body); // absent stays absent
    for (const list of scopes.values()) {
      const { scope } = list[0]!;
      w.uint32(SCOPE_SPANS).fork();
      if (scope.body.length > 0) w.uint32(SCOPE).bytes(scope.body);
      for (const span of list) w.uint32(SPAN).bytes(span.body);
      if (scope.schemaUrl !== '') w.uint32(SCHEMA_URL).string(scope.schemaUrl);
      w.ldelim();
    }
    if (resource.schemaUrl !== '') w.uint32(SCHEMA_URL).string(resource.schemaUrl);
    w.ldelim();
  }
  return w.finish();
}
