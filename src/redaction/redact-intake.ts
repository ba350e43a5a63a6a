import type { IntakeRequest, IntakeResource, IntakeScope, IntakeSpan, SpanRedaction } from '../otlp/intake-request.js';
import { redactEncodedResource, redactEncodedScope, redactEncodedSpan, redactSpanText } from '../otlp/redact-encoded.js';
import type { IntakeRows } from '../store/intake-rows.js';
import { detectSecretValue } from './detectors.js';
import type { Redactor } from './redactor.js';

/** How many values were erased, by `target\0reason` (for the redaction counter). */
export type RedactionCounts = Map<string, number>;

export interface IntakeRedaction {
  /** The input object itself when nothing was redacted; otherwise a copy sharing every untouched part. */
  readonly request: IntakeRequest;
  readonly counts: RedactionCounts;
}

/**
 * Redacts a decoded intake request before any stage sees it (DESIGN §7): each resource and scope body
 * (the bytes that will be stored) with its decoded attributes, and each span's decoded attributes, so
 * routing reads the same redacted values that reach disk. Span bodies are redacted by the intake
 * writer right before they are stored (redactRows), off the thread that answers requests; each span
 * carries the list of what was erased in its scope and resource. Throws (a protobufjs error) on a body
 * it cannot decode — the receiver maps that to INVALID_ARGUMENT, so nothing unexamined is stored.
 */
export function redactIntakeRequest(request: IntakeRequest, redactor: Redactor): IntakeRedaction {
  const counts: RedactionCounts = new Map();
  if (!redactor.enabled) return { request, counts };
  let changed = false;
  const resources = request.resources.map((resource): IntakeResource => {
    const body = redactEncodedResource(resource.body, redactor);
    const resourceRedactions = body.redactions.map((r): SpanRedaction => ({ target: 'resource', ...r }));
    count(counts, resourceRedactions);
    const scopes = resource.scopes.map((scope) => redactScope(scope, redactor, resourceRedactions, counts));
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

function redactScope(scope: IntakeScope, redactor: Redactor, inherited: readonly SpanRedaction[], counts: RedactionCounts): IntakeScope {
  const body = redactEncodedScope(scope.body, redactor);
  const scopeRedactions = body.redactions.map((r): SpanRedaction => ({ target: 'scope', ...r }));
  count(counts, scopeRedactions);
  const context = [...inherited, ...scopeRedactions];
  const spans = scope.spans.map((span) => redactDecodedSpan(span, redactor, context));
  if (body.bytes === scope.body && spans.every((s, i) => s === scope.spans[i])) return scope;
  return { ...scope, body: body.bytes, spans };
}

/** The span's decoded attributes (its bytes are the writer's); counted when the writer erases them. */
function redactDecodedSpan(span: IntakeSpan, redactor: Redactor, context: readonly SpanRedaction[]): IntakeSpan {
  const { attributes } = redactor.redactAttributes(span.attributes);
  if (attributes === span.attributes && context.length === 0) return span;
  return { ...span, attributes, redactions: context };
}

export interface SpanBodyRedaction {
  /** The encoded span: the input object itself when nothing was erased. */
  readonly bytes: Uint8Array;
  /** The span name as stored in its own column: hashed when the name held a secret. */
  readonly name: string;
  readonly redactions: readonly SpanRedaction[];
}

/** Redacts an encoded span: attributes of the span, its events and links, and its free text. */
export function redactSpanBody(body: Uint8Array, name: string, statusMessage: string, redactor: Redactor): SpanBodyRedaction {
  const attributes = redactEncodedSpan(body, redactor);
  // Free text (name, status message, event names) is decoded only when the name or the status
  // message looks like it holds a secret: scanning every span body for it would cost a third of ingest.
  const suspect = detectSecretValue(name) !== undefined || detectSecretValue(statusMessage) !== undefined;
  const text = suspect ? redactSpanText(attributes.bytes, redactor) : { bytes: attributes.bytes, redactions: [] };
  const redactions = [...attributes.redactions, ...text.redactions].map((r): SpanRedaction => ({ target: 'span', ...r }));
  return {
    bytes: text.bytes,
    name: text.redactions.some((r) => r.key === 'name') ? redactor.hash(name) : name,
    redactions,
  };
}

/**
 * Redacts the span bodies of a batch on the intake writer's thread, before they are stored: replaces
 * changed bodies and names, and adds each span's own erasures to its manifest column. Returns the
 * input object itself when nothing was erased. Throws like redactIntakeRequest.
 */
export function redactRows(rows: IntakeRows, redactor: Redactor): { rows: IntakeRows; counts: RedactionCounts } {
  const counts: RedactionCounts = new Map();
  if (!redactor.enabled) return { rows, counts };
  const changed = new Map<number, SpanBodyRedaction>();
  for (let i = 0; i < rows.count; i++) {
    const body = rows.bodies.subarray(i === 0 ? 0 : rows.bodyEnds[i - 1], rows.bodyEnds[i]);
    const result = redactSpanBody(body, rows.names[i]!, rows.statusMessages[i]!, redactor);
    if (result.redactions.length === 0 && result.bytes === body) continue;
    count(counts, result.redactions);
    changed.set(i, result);
  }
  if (changed.size === 0) return { rows, counts };

  const bodyOf = (i: number) => changed.get(i)?.bytes ?? rows.bodies.subarray(i === 0 ? 0 : rows.bodyEnds[i - 1], rows.bodyEnds[i]);
  let length = 0;
  for (let i = 0; i < rows.count; i++) length += bodyOf(i).length;
  const bodies = new Uint8Array(length);
  const bodyEnds = new Uint32Array(rows.count);
  let offset = 0;
  for (let i = 0; i < rows.count; i++) {
    bodies.set(bodyOf(i), offset);
    offset += bodyOf(i).length;
    bodyEnds[i] = offset;
  }
  const manifest = (i: number): string | null => {
    const own = changed.get(i)?.redactions ?? [];
    const inherited = rows.redactions[i] ?? null;
    if (own.length === 0) return inherited;
    return JSON.stringify([...(inherited === null ? [] : (JSON.parse(inherited) as SpanRedaction[])), ...own]);
  };
  return {
    rows: {
      ...rows,
      names: rows.names.map((name, i) => changed.get(i)?.name ?? name),
      bodies,
      bodyEnds,
      redactions: rows.redactions.map((_, i) => manifest(i)),
    },
    counts,
  };
}

function count(counts: RedactionCounts, list: readonly SpanRedaction[]): void {
  for (const r of list) counts.set(`${r.target}\u0000${r.reason}`, (counts.get(`${r.target}\u0000${r.reason}`) ?? 0) + 1);
}
