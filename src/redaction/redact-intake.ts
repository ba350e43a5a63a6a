import type { IntakeRequest, IntakeResource, IntakeScope, IntakeSpan } from '../otlp/intake-request.js';
import { redactEncodedResource, redactEncodedScope, redactEncodedSpan } from '../otlp/redact-encoded.js';
import type { RedactionReason, Redactor } from './redactor.js';

/** One erased value of a request, for the stored record (DESIGN §7) and the redaction counter. */
export interface RedactionRecord {
  readonly target: 'resource' | 'scope' | 'span';
  /** Set for span targets (lowercase hex, as in IntakeSpan). */
  readonly traceId?: string;
  readonly spanId?: string;
  /** Path inside the message: `attributes.password`, `events[0].attributes.token`, `links[1].attributes.x`. */
  readonly key: string;
  readonly reason: RedactionReason;
}

export interface IntakeRedaction {
  /** The input object itself when nothing was redacted; otherwise a copy sharing every untouched part. */
  readonly request: IntakeRequest;
  readonly records: readonly RedactionRecord[];
}

/**
 * Redacts a decoded intake request before any stage sees it: each resource, scope and span body (the
 * bytes that will be stored) and the decoded attributes beside them, so filters and evidence read the
 * same redacted values that reach disk. Throws (a protobufjs error) on a body it cannot decode — the
 * receiver maps that to INVALID_ARGUMENT, so nothing unexamined is stored.
 */
export function redactIntakeRequest(request: IntakeRequest, redactor: Redactor): IntakeRedaction {
  if (!redactor.enabled) return { request, records: [] };
  const records: RedactionRecord[] = [];
  let changed = false;
  const resources = request.resources.map((resource): IntakeResource => {
    const body = redactEncodedResource(resource.body, redactor);
    for (const r of body.redactions) records.push({ target: 'resource', ...r });
    const scopes = resource.scopes.map((scope) => redactScope(scope, redactor, records));
    const bodyChanged = body.bytes !== resource.body;
    if (!bodyChanged && scopes.every((s, i) => s === resource.scopes[i])) return resource;
    changed = true;
    return {
      ...resource,
      body: body.bytes,
      attributes: bodyChanged ? redactor.redactAttributes(resource.attributes).attributes : resource.attributes,
      scopes,
    };
  });
  return { request: changed ? { ...request, resources } : request, records };
}

function redactScope(scope: IntakeScope, redactor: Redactor, records: RedactionRecord[]): IntakeScope {
  const body = redactEncodedScope(scope.body, redactor);
  for (const r of body.redactions) records.push({ target: 'scope', ...r });
  const spans = scope.spans.map((span) => redactSpan(span, redactor, records));
  if (body.bytes === scope.body && spans.every((s, i) => s === scope.spans[i])) return scope;
  return { ...scope, body: body.bytes, spans };
}

function redactSpan(span: IntakeSpan, redactor: Redactor, records: RedactionRecord[]): IntakeSpan {
  const body = redactEncodedSpan(span.body, redactor);
  if (body.bytes === span.body) return span;
  for (const r of body.redactions) records.push({ target: 'span', traceId: span.traceId, spanId: span.spanId, ...r });
  return { ...span, body: body.bytes, attributes: redactor.redactAttributes(span.attributes).attributes };
}
