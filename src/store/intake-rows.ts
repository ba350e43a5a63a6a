import * as workerThreads from 'node:worker_threads';
import type { Claim, SpanBatch } from '../pipeline/span-batch.js';

/** An encoded resource or scope with its schema URL; stored once per distinct value. */
export interface EncodedPart {
  readonly body: Uint8Array;
  readonly schemaUrl: string;
}

/**
 * A batch as the intake writer stores it, shaped to cross to the writer's thread cheaply: one column
 * per field, and the span bodies where they already are — the request's own buffer, moved to the
 * writer rather than copied. (Cloning one object per span cost three times as much.) After it is sent
 * the request's buffer belongs to the writer: nothing on this side may read a span body again.
 */
export interface IntakeRows {
  readonly receivedNs: bigint;
  readonly count: number;
  /** null while the span's trace has no run (pending). */
  readonly runKeys: ReadonlyArray<string | null>;
  readonly traceIds: readonly string[];
  readonly spanIds: readonly string[];
  readonly parentSpanIds: readonly string[];
  readonly names: readonly string[];
  /** NUMBER_COLUMNS per span, see Column. */
  readonly numbers: Int32Array;
  /** start, end per span, in nanoseconds (intake rejects times beyond SQLite's signed 64 bits). */
  readonly times: BigInt64Array;
  /** The buffers holding the encoded spans: the request's, and one per span that redaction rewrote. */
  readonly buffers: readonly ArrayBuffer[];
  /** Per span: index into buffers, byte offset, byte length. */
  readonly bodyRefs: Uint32Array;
  /** JSON list of what was erased in the span, its scope and its resource; null when nothing. */
  readonly redactions: ReadonlyArray<string | null>;
  readonly resources: readonly EncodedPart[];
  readonly scopes: readonly EncodedPart[];
  readonly claims: readonly Claim[];
}

/** Integer columns of IntakeRows.numbers, per span. */
export const enum Column {
  Kind = 0,
  StatusCode = 1,
  Resource = 2,
  Scope = 3,
  /** 1 when the span's arrival means its run's root is in (BatchSpan.rootCandidate). */
  RootCandidate = 4,
}
export const NUMBER_COLUMNS = 5;

export function toIntakeRows(batch: SpanBatch): IntakeRows {
  const count = batch.spans.length;
  const numbers = new Int32Array(count * NUMBER_COLUMNS);
  const times = new BigInt64Array(count * 2);
  const bodyRefs = new Uint32Array(count * 3);
  const buffers: ArrayBuffer[] = [];
  const bufferIndex = new Map<ArrayBufferLike, number>();
  const resources: EncodedPart[] = [];
  const scopes: EncodedPart[] = [];
  // Every span of a request shares its resource and scope objects: index them by identity.
  const resourceIndex = new Map<object, number>();
  const scopeIndex = new Map<object, number>();
  batch.spans.forEach((batchSpan, i) => {
    const { span, resource, scope } = batchSpan;
    const n = i * NUMBER_COLUMNS;
    numbers[n + Column.Kind] = span.kind;
    numbers[n + Column.StatusCode] = span.statusCode;
    numbers[n + Column.Resource] = indexOf(resourceIndex, resources, resource);
    numbers[n + Column.Scope] = indexOf(scopeIndex, scopes, scope);
    numbers[n + Column.RootCandidate] = batchSpan.rootCandidate ? 1 : 0;
    times[i * 2] = span.startNs;
    times[i * 2 + 1] = span.endNs;
    const { buffer, byteOffset, byteLength } = span.body;
    let b = bufferIndex.get(buffer);
    if (b === undefined) {
      b = buffers.length;
      buffers.push(buffer as ArrayBuffer);
      bufferIndex.set(buffer, b);
    }
    bodyRefs[i * 3] = b;
    bodyRefs[i * 3 + 1] = byteOffset;
    bodyRefs[i * 3 + 2] = byteLength;
  });
  const spans = batch.spans;
  return {
    receivedNs: batch.receivedNs,
    count,
    runKeys: spans.map((s) => s.runKey),
    traceIds: spans.map((s) => s.span.traceId),
    spanIds: spans.map((s) => s.span.spanId),
    parentSpanIds: spans.map((s) => s.span.parentSpanId),
    names: spans.map((s) => s.span.name),
    numbers,
    times,
    buffers,
    bodyRefs,
    redactions: spans.map(({ span }) =>
      span.redactions === undefined || span.redactions.length === 0 ? null : JSON.stringify(span.redactions),
    ),
    resources,
    scopes,
    claims: batch.claims,
  };
}

/**
 * The buffers postMessage moves to the writer instead of copying. Node's pool for small Buffers (where
 * a small request or a rewritten span may sit) must be copied: Node 20 ignores it in a transfer list,
 * Node 22 throws, so it is left out where Node can tell.
 */
export function transferables(rows: IntakeRows): ArrayBuffer[] {
  const movable = rows.buffers.filter((buffer) => !isMarkedAsUntransferable(buffer));
  return [rows.numbers.buffer, rows.times.buffer, rows.bodyRefs.buffer, ...movable] as ArrayBuffer[];
}

/** Node ≥ 21 says which buffers are untransferable; Node 20 cannot, and ignores them when transferring. */
const isMarkedAsUntransferable: (buffer: ArrayBuffer) => boolean =
  (workerThreads as { isMarkedAsUntransferable?: (value: unknown) => boolean }).isMarkedAsUntransferable ?? (() => false);

/** The encoded span `i` of `rows`. */
export function bodyOf(rows: IntakeRows, i: number): Uint8Array {
  return new Uint8Array(rows.buffers[rows.bodyRefs[i * 3]!]!, rows.bodyRefs[i * 3 + 1], rows.bodyRefs[i * 3 + 2]);
}

function indexOf(index: Map<object, number>, parts: EncodedPart[], part: EncodedPart): number {
  let i = index.get(part);
  if (i === undefined) {
    i = parts.length;
    // A copy: the body is a view into the request, which cloning would copy whole.
    parts.push({ body: part.body.slice(), schemaUrl: part.schemaUrl });
    index.set(part, i);
  }
  return i;
}
