import { Resource, InstrumentationScope, KeyValue, Reader } from './proto.js';
import { toAttributes, type Attributes, type KeyValueMessage } from './attributes.js';
import type { KeySelector } from './key-selector.js';

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

/** Not frozen, like every array iterated per span (see resolveRecognisers): readonly in type only. */
const NONE: readonly never[] = [];

type ProtoReader = InstanceType<typeof Reader>;

/**
 * Decodes a stored (or received) opentelemetry.proto.trace.v1.Span straight into the evaluation
 * model. Run history decodes every span of a run each time the run is judged; protobufjs' generic
 * decode built a message object per span, event, link and status plus a Long per timestamp, all
 * converted again right after (a third of the history thread's time with GC). Only attribute values
 * still go through protobufjs' KeyValue decoder, so their oneof semantics stay exactly protobufjs'.
 * Like the generated code, a field is recognised by its number, the last occurrence of a singular
 * field wins, and unknown fields are skipped.
 *
 * `select` picks the span attributes decoded (all when undefined; the rest are skipped unread), and
 * events and links are skipped unless `withEventsAndLinks`. Throws (a protobufjs RangeError) on
 * truncated input.
 */
export function decodeSpanFields(body: Uint8Array, select: KeySelector | undefined, withEventsAndLinks = false): DecodedSpan {
  const buf = asBuffer(body);
  const r = Reader.create(buf);
  let traceId = '';
  let spanId = '';
  let parentSpanId = '';
  let name = '';
  let kind = 0;
  let startNs = 0n;
  let endNs = 0n;
  let statusCode = 0;
  let statusMessage = '';
  let attributes: KeyValueMessage[] | undefined;
  let events: SpanEvent[] | undefined;
  let links: SpanLink[] | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        traceId = hexField(r, buf);
        break;
      case 2:
        spanId = hexField(r, buf);
        break;
      case 4:
        parentSpanId = hexField(r, buf);
        break;
      case 5:
        name = r.string();
        break;
      case 6:
        kind = r.int32();
        break;
      case 7:
        startNs = fixed64(r);
        break;
      case 8:
        endNs = fixed64(r);
        break;
      case 9: {
        const length = r.uint32();
        if (select !== undefined && !select.mayAccept(buf, r.pos, r.pos + length)) {
          r.skip(length);
          break;
        }
        const kv = KeyValue.decode(r, length) as unknown as KeyValueMessage;
        if (select === undefined || select.keys.has(kv.key)) (attributes ??= []).push(kv);
        break;
      }
      case 11:
        if (withEventsAndLinks) (events ??= []).push(decodeEvent(r, r.uint32()));
        else r.skipType(tag & 7);
        break;
      case 13:
        if (withEventsAndLinks) (links ??= []).push(decodeLink(r, r.uint32(), buf));
        else r.skipType(tag & 7);
        break;
      case 15: {
        // protobufjs replaces (does not merge) a repeated singular message: so does this.
        const status = decodeStatus(r, r.uint32());
        statusCode = status.code;
        statusMessage = status.message;
        break;
      }
      default:
        r.skipType(tag & 7);
    }
  }
  return {
    traceId,
    spanId,
    parentSpanId,
    name,
    kind,
    startNs,
    endNs,
    statusCode,
    statusMessage,
    attributes: toAttributes(attributes),
    events: events ?? NONE,
    links: links ?? NONE,
  };
}

function decodeEvent(r: ProtoReader, length: number): SpanEvent {
  const end = r.pos + length;
  let timeNs = 0n;
  let name = '';
  let attributes: KeyValueMessage[] | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        timeNs = fixed64(r);
        break;
      case 2:
        name = r.string();
        break;
      case 3:
        (attributes ??= []).push(KeyValue.decode(r, r.uint32()) as unknown as KeyValueMessage);
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return { name, timeNs, attributes: toAttributes(attributes) };
}

function decodeLink(r: ProtoReader, length: number, buf: Buffer): SpanLink {
  const end = r.pos + length;
  let traceId = '';
  let spanId = '';
  let attributes: KeyValueMessage[] | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        traceId = hexField(r, buf);
        break;
      case 2:
        spanId = hexField(r, buf);
        break;
      case 4:
        (attributes ??= []).push(KeyValue.decode(r, r.uint32()) as unknown as KeyValueMessage);
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return { traceId, spanId, attributes: toAttributes(attributes) };
}

function decodeStatus(r: ProtoReader, length: number): { code: number; message: string } {
  const end = r.pos + length;
  let code = 0;
  let message = '';
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 2:
        message = r.string();
        break;
      case 3:
        code = r.int32();
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return { code, message };
}

/** A bytes field as lowercase hex, read without copying it out of the body first. */
function hexField(r: ProtoReader, buf: Buffer): string {
  const length = r.uint32();
  const start = r.pos;
  r.skip(length);
  return length === 0 ? '' : buf.toString('hex', start, start + length);
}

/** Exact unsigned 64-bit nanoseconds (fixed64, little endian), without a Long. */
function fixed64(r: ProtoReader): bigint {
  const low = r.fixed32();
  const high = r.fixed32();
  // Multiply-add: a quarter of the cost of shift-or on V8's BigInts.
  return high === 0 ? BigInt(low) : BigInt(high) * 4_294_967_296n + BigInt(low);
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
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
