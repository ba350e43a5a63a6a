import type { IntakeRequest, IntakeResource, IntakeScope, IntakeSpan, SpanRedaction } from '../otlp/intake-request.js';
import { redactEncodedResource, redactEncodedScope, redactEncodedSpan, redactSpanText } from '../otlp/redact-encoded.js';
import { detectSecretValue } from './detectors.js';
import type { Redactor } from './redactor.js';

export interface IntakeRedaction {
  /** The input object itself when nothing was redacted; otherwise a copy sharing every untouched part. */
  readonly request: IntakeRequest;
  /** How many values were erased, by target and reason (for the redaction counter). */
  readonly counts: ReadonlyMap<string, number>;
}

/**
 * Redacts a decoded intake request before any stage sees it: each resource, scope and span body (the
 * bytes that will be stored) and the decoded attributes beside them, so filters and evidence read the
 * same redacted values that reach disk. Every span carries the list of what was erased in it, its
 * scope and its resource (the manifest the run records). Throws (a protobufjs error) on a body it
 * cannot decode — the receiver maps that to INVALID_ARGUMENT, so nothing unexamined is stored.
 */
export function redactIntakeRequest(request: IntakeRequest, redactor: Redactor): IntakeRedaction {
  const counts = new Map<string, number>();
  if (!redactor.enabled) return { request, counts };
  const count = (list: readonly SpanRedaction[]) => {
    for (const r of list) counts.set(`${r.target}\u0000${r.reason}`, (counts.get(`${r.target}\u0000${r.reason}`) ?? 0) + 1);
  };
  let changed = false;
  const resources = request.resources.map((resource): IntakeResource => {
    const body = redactEncodedResource(resource.body, redactor);
    const resourceRedactions = body.redactions.map((r): SpanRedaction => ({ target: 'resource', ...r }));
    count(resourceRedactions);
    const scopes = resource.scopes.map((scope) => redactScope(scope, redactor, resourceRedactions, count));
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
  return { request: changed ? { ...request, resources } : request, counts };
}

function redactScope(
  scope: IntakeScope,
  redactor: Redactor,
  inherited: readonly SpanRedaction[],
  count: (list: readonly SpanRedaction[]) => void,
): IntakeScope {
  const body = redactEncodedScope(scope.body, redactor);
  const scopeRedactions = body.redactions.map((r): SpanRedaction => ({ target: 'scope', ...r }));
  count(scopeRedactions);
  const context = [...inherited, ...scopeRedactions];
  const spans = scope.spans.map((span) => redactSpan(span, redactor, context, count));
  if (body.bytes === scope.body && spans.every((s, i) => s === scope.spans[i])) return scope;
  return { ...scope, body: body.bytes, spans };
}

function redactSpan(
  span: IntakeSpan,
  redactor: Redactor,
  context: readonly SpanRedaction[],
  count: (list: readonly SpanRedaction[]) => void,
): IntakeSpan {
  const attributes = redactEncodedSpan(span.body, redactor);
  // Free text (name, status message, event names) is decoded only when the name or the status
  // message looks like it holds a secret: scanning every span body for it would cost a third of ingest.
  const suspect = detectSecretValue(span.name) !== undefined || detectSecretValue(span.statusMessage) !== undefined;
  const text = suspect ? redactSpanText(attributes.bytes, redactor) : { bytes: attributes.bytes, redactions: [] };
  const body = { bytes: text.bytes, redactions: [...attributes.redactions, ...text.redactions] };
  const own = body.redactions.map((r): SpanRedaction => ({ target: 'span', ...r }));
  count(own);
  if (body.bytes === span.body && context.length === 0) return span;
  return {
    ...span,
    // The name is also a column of its own: it must be erased there too.
    name: body.redactions.some((r) => r.key === 'name') ? redactor.hash(span.name) : span.name,
    body: body.bytes,
    attributes: body.bytes === span.body ? span.attributes : redactor.redactAttributes(span.attributes).attributes,
    redactions: [...context, ...own],
  };
}
