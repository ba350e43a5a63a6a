import type { RunSpan } from '../evidence/run-input.js';
import { byStart } from '../evidence/steps.js';
import { sha256Hex } from '../integrity/canonical.js';
import type { Attributes } from '../otlp/attributes.js';
import type { SpanRedaction } from '../otlp/intake-request.js';
import type { KeySelector } from '../otlp/key-selector.js';
import { decodeSpanFields, decodeStoredResource, decodeStoredScope, type DecodedSpan } from '../otlp/stored-span.js';
import type { RunStore, StoredSpanRow } from '../store/run-store.js';

/** A run's spans as judging reads them. */
export interface LoadedRun {
  /** Each span once: the first copy stored (an exporter may resend it, with any content). */
  readonly spans: RunSpan[];
  /** Copies stored beyond the first of a span (same trace and span id), which are ignored. */
  readonly duplicates: number;
}

/** Not frozen, like every array iterated per span (see resolveRecognisers): readonly in type only. */
const NO_REDACTIONS: readonly SpanRedaction[] = [];
/** Bound on the decoded resource and scope caches; they only save lookups, so clearing them is harmless. */
const MAX_CACHED = 10_000;

/**
 * Reads a run's spans out of the store for judging (and for the console and evidence bundles): decodes
 * each span's stored bytes with the attributes judging reads, and digests them as the chain records.
 */
export class RunLoader {
  private readonly resources = new Map<number, Attributes>();
  private readonly scopes = new Map<number, string>();

  constructor(
    private readonly store: RunStore,
    /** The span attributes to decode (see attributeKeysRead); all when undefined. */
    private readonly spanAttributes?: KeySelector,
  ) {}

  /** Every span of a run. A span stored twice (an exporter's resend, whatever it carries) counts once, as its first copy. */
  loadRun(runKey: string): LoadedRun {
    const rows = this.store.spanRows(runKey);
    const firstCopy = new Map<string, StoredSpan>();
    for (const row of rows) {
      const span = decodeSpanFields(row.body, this.spanAttributes, true);
      const id = `${span.traceId}/${span.spanId}`;
      const seen = firstCopy.get(id);
      if (seen === undefined || row.id < seen.row.id) firstCopy.set(id, { row, span });
    }
    const spans: RunSpan[] = [];
    for (const { row, span } of [...firstCopy.values()].sort(inJudgingOrder)) {
      spans.push({
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
        events: span.events,
        links: span.links,
        resource: this.resource(row.resourceId),
        scopeName: this.scope(row.scopeId),
        digest: sha256Hex(row.body),
        redactions: row.redactions === null ? NO_REDACTIONS : (row.redactions as SpanRedaction[]),
      });
    }
    return { spans, duplicates: rows.length - spans.length };
  }

  private resource(id: number): Attributes {
    return cached(this.resources, id, () => decodeStoredResource(this.store.resourceBody(id)));
  }

  private scope(id: number): string {
    return cached(this.scopes, id, () => decodeStoredScope(this.store.scopeBody(id)).name);
  }
}

interface StoredSpan {
  readonly row: StoredSpanRow;
  readonly span: DecodedSpan;
}

/** The order spans are judged in: by start, then span id, then the one stored first (spans of two traces may share both). */
function inJudgingOrder(a: StoredSpan, b: StoredSpan): number {
  return byStart(a.span, b.span) || a.row.id - b.row.id;
}

function cached<T>(cache: Map<number, T>, id: number, load: () => T): T {
  let value = cache.get(id);
  if (value === undefined) {
    value = load();
    if (cache.size > MAX_CACHED) cache.clear();
    cache.set(id, value);
  }
  return value;
}
