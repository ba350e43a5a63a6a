/**
 * Redaction of encoded OTLP messages (DESIGN §7). Intake stores each span, resource and scope as its
 * exact OTLP bytes, so secrets must be erased in that form before the bytes reach disk.
 *
 * The common case — nothing to redact — costs one pass over the wire format that reads only attribute
 * keys and values and returns the input object itself: no decode into messages, no re-encode. Only when
 * that pass finds a value to redact (or wire structure it cannot vouch for) is the message decoded with
 * protobufjs, its values replaced and the message re-encoded.
 */
import type protobuf from 'protobufjs';
import { InstrumentationScope, Long, Resource, Span } from './proto.js';
import { toAttributes, type AnyValueMessage, type KeyValueMessage } from './attributes.js';
import {
  MAX_NESTING_DEPTH,
  nestedValueText,
  type KeyRule,
  type Redaction,
  type RedactionReason,
  type Redactor,
} from '../redaction/redactor.js';
import { detectSecretValue } from '../redaction/detectors.js';

export interface EncodedRedaction {
  /** The encoded message: the input object itself when nothing had to change. */
  readonly bytes: Uint8Array;
  /** What was erased, paths relative to the message: `attributes.password`, `events[0].attributes.token`. */
  readonly redactions: readonly Redaction[];
}

/** Redacts span, event and link attributes of an encoded opentelemetry.proto.trace.v1.Span. */
export function redactEncodedSpan(bytes: Uint8Array, redactor: Redactor): EncodedRedaction {
  return redactEncoded(bytes, redactor, SPAN_LAYOUT);
}

interface SpanTextMessage {
  name?: string;
  status?: { message?: string } | null;
  events?: Array<{ name?: string }>;
}

/**
 * Redacts the free-text fields of an encoded Span — name, status message, event names — which carry
 * secrets too (an error message quoting a URL with a token); judged by the value's shape alone. The
 * caller decides when to look (intake checks the decoded name and status message first).
 */
export function redactSpanText(bytes: Uint8Array, redactor: Redactor): EncodedRedaction {
  if (!redactor.enabled || bytes.length === 0) return { bytes, redactions: NO_REDACTIONS };
  const span = Span.decode(bytes) as unknown as SpanTextMessage;
  const redactions: Redaction[] = [];
  const check = (text: string | undefined, key: string, replace: (hashed: string) => void) => {
    if (text === undefined || text === '') return;
    const reason = detectSecretValue(text);
    if (reason === undefined) return;
    replace(redactor.hash(text));
    redactions.push({ key, reason });
  };
  check(span.name, 'name', (h) => (span.name = h));
  if (span.status) check(span.status.message, 'status.message', (h) => (span.status!.message = h));
  (span.events ?? []).forEach((event, i) => check(event.name, `events[${i}].name`, (h) => (event.name = h)));
  if (redactions.length === 0) return { bytes, redactions: NO_REDACTIONS };
  return { bytes: Span.encode(span as protobuf.Message).finish(), redactions };
}

/** Redacts the attributes of an encoded opentelemetry.proto.resource.v1.Resource. */
export function redactEncodedResource(bytes: Uint8Array, redactor: Redactor): EncodedRedaction {
  return redactEncoded(bytes, redactor, RESOURCE_LAYOUT);
}

/** Redacts the attributes of an encoded opentelemetry.proto.common.v1.InstrumentationScope. */
export function redactEncodedScope(bytes: Uint8Array, redactor: Redactor): EncodedRedaction {
  return redactEncoded(bytes, redactor, SCOPE_LAYOUT);
}

/** Where a message keeps attribute lists: its own field, and nested messages (events, links) with theirs. */
interface Layout {
  readonly type: protobuf.Type;
  /** Field number of the message's own `repeated KeyValue attributes`. */
  readonly attributesField: number;
  /** Repeated sub-messages holding attributes, by JS name (for the decoded walk). */
  readonly nestedNames: readonly string[];
  /** The same by field number → the attributes field inside (for the wire scan). */
  readonly nestedFields: ReadonlyMap<number, number>;
}

/** `nested`: [JS name, field number, attributes field number inside]. */
function makeLayout(
  type: protobuf.Type,
  attributesField: number,
  nested: ReadonlyArray<readonly [string, number, number]> = [],
): Layout {
  return {
    type,
    attributesField,
    nestedNames: nested.map(([name]) => name),
    nestedFields: new Map(nested.map(([, field, inner]) => [field, inner])),
  };
}

const SPAN_LAYOUT = makeLayout(Span, 9, [
  ['events', 11, 3],
  ['links', 13, 4],
]);
const RESOURCE_LAYOUT = makeLayout(Resource, 1);
const SCOPE_LAYOUT = makeLayout(InstrumentationScope, 3);

/** Not frozen, like every array iterated per span (see resolveRecognisers): readonly in type only. */
const NO_REDACTIONS: readonly Redaction[] = [];

/** The scan's finding: nothing to do, a value to redact, or wire structure only a decode can settle. */
const enum Scan {
  Clean = 0,
  Secret = 1,
  Irregular = 2,
}

function redactEncoded(bytes: Uint8Array, redactor: Redactor, layout: Layout): EncodedRedaction {
  if (!redactor.enabled || bytes.length === 0) return { bytes, redactions: NO_REDACTIONS };
  const scan = new WireScan(asBuffer(bytes), redactor).message(layout);
  if (scan === Scan.Clean) return { bytes, redactions: NO_REDACTIONS };

  // Throws on bytes protobufjs cannot decode: the caller rejects them, nothing unscanned is stored.
  const message = layout.type.decode(bytes) as unknown as Record<string, unknown>;
  const redactions: Redaction[] = [];
  const walk = new DecodedWalk(redactor, redactions);
  walk.list(message.attributes as KeyValueMessage[] | undefined, 'attributes');
  for (const name of layout.nestedNames) {
    const items = (message[name] as Array<{ attributes?: KeyValueMessage[] }> | undefined) ?? [];
    items.forEach((item, i) => walk.list(item.attributes, `${name}[${i}].attributes`));
  }
  // Irregular structure (duplicate or mistyped fields) is rewritten even with nothing to erase: other
  // decoders may read such bytes differently from the protobufjs view that was just examined.
  if (redactions.length === 0 && scan === Scan.Secret) return { bytes, redactions: NO_REDACTIONS };
  return { bytes: layout.type.encode(message).finish(), redactions };
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/**
 * A read-only walk over the protobuf wire format that examines every attribute key and value the
 * layout names. Any structure it does not expect is reported Irregular rather than guessed at.
 */
class WireScan {
  private pos = 0;
  /** How many top-level keys this scan has read: spans of one source list their keys in the same order. */
  private keysRead = 0;
  private readonly rules: KeyRuleCache;

  constructor(
    private readonly buf: Buffer,
    private readonly redactor: Redactor,
  ) {
    this.rules = keyRuleCache(redactor);
  }

  message(layout: Layout): Scan {
    const end = this.buf.length;
    while (this.pos < end) {
      const tag = this.varint32(end);
      if (tag < 8) return Scan.Irregular; // malformed, or field number 0
      const field = tag >>> 3;
      const nestedAttributes = field === layout.attributesField ? 0 : layout.nestedFields.get(field);
      if (nestedAttributes === undefined) {
        if (!this.skip(tag & 7, end)) return Scan.Irregular;
        continue;
      }
      const inner = this.enter(tag & 7, end);
      if (inner < 0) return Scan.Irregular;
      const scan =
        nestedAttributes === 0 ? this.keyValue(inner, undefined, 0) : this.attributeHolder(inner, nestedAttributes);
      if (scan !== Scan.Clean) return scan;
      if (this.pos !== inner) return Scan.Irregular;
    }
    return this.pos === end ? Scan.Clean : Scan.Irregular;
  }

  /** An event or link: only its attributes matter. */
  private attributeHolder(end: number, attributesField: number): Scan {
    while (this.pos < end) {
      const tag = this.varint32(end);
      if (tag < 0) return Scan.Irregular;
      if (tag >>> 3 !== attributesField) {
        if (!this.skip(tag & 7, end)) return Scan.Irregular;
        continue;
      }
      const inner = this.enter(tag & 7, end);
      if (inner < 0) return Scan.Irregular;
      const scan = this.keyValue(inner, undefined, 0);
      if (scan !== Scan.Clean) return scan;
    }
    return this.pos === end ? Scan.Clean : Scan.Irregular;
  }

  /** Scans one KeyValue ending at `end`; leaves `pos` at `end`. */
  private keyValue(end: number, parent: KeyRule | undefined, depth: number): Scan {
    let keyStart = -1;
    let keyEnd = -1;
    let valueStart = -1;
    let valueEnd = -1;
    while (this.pos < end) {
      const tag = this.varint32(end);
      if (tag < 0) return Scan.Irregular;
      const field = tag >>> 3;
      if (field !== 1 && field !== 2) {
        if (!this.skip(tag & 7, end)) return Scan.Irregular;
        continue;
      }
      // A repeated key or value is legal protobuf that decoders resolve differently (last wins vs merge).
      if ((field === 1 ? keyStart : valueStart) >= 0) return Scan.Irregular;
      const inner = this.enter(tag & 7, end);
      if (inner < 0) return Scan.Irregular;
      if (field === 1) {
        keyStart = this.pos;
        keyEnd = inner;
      } else {
        valueStart = this.pos;
        valueEnd = inner;
      }
      this.pos = inner;
    }
    if (this.pos !== end) return Scan.Irregular;
    if (valueStart < 0) return Scan.Clean;
    const rule = this.rules.get(this.buf, keyStart, keyEnd, parent, parent === undefined ? this.keysRead++ : -1);
    this.pos = valueStart;
    const scan = this.anyValue(valueEnd, rule, depth);
    this.pos = end;
    return scan;
  }

  private anyValue(end: number, rule: KeyRule, depth: number): Scan {
    if (rule.action === 'allow') {
      this.pos = end;
      return Scan.Clean;
    }
    let members = 0;
    while (this.pos < end) {
      const tag = this.varint32(end);
      if (tag < 0) return Scan.Irregular;
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field < 1 || field > 7) {
        if (!this.skip(wire, end)) return Scan.Irregular;
        continue;
      }
      // Several oneof members in one AnyValue: decoders disagree on which one is "the" value.
      if (++members > 1 || wire !== ANY_VALUE_WIRE[field]) return Scan.Irregular;
      let scan = Scan.Clean;
      switch (field) {
        case 1: // string_value
        case 7: // bytes_value
          scan = this.text(end, rule);
          break;
        case 2: // bool_value: carries no secret
          if (!this.skipVarint(end)) return Scan.Irregular;
          break;
        case 3: // int_value
        case 4: // double_value
          scan = this.number(rule, wire, end);
          break;
        case 5: // array_value
        case 6: // kvlist_value
          if (depth >= MAX_NESTING_DEPTH) return Scan.Secret; // redacted whole by the decoded walk
          scan = this.container(field, end, rule, depth + 1);
          break;
      }
      if (scan !== Scan.Clean) return scan;
    }
    return this.pos === end ? Scan.Clean : Scan.Irregular;
  }

  /** ArrayValue (field 5) or KeyValueList (field 6): `repeated AnyValue|KeyValue values = 1`. */
  private container(field: number, end: number, rule: KeyRule, depth: number): Scan {
    const containerEnd = this.enter(WIRE_LEN, end);
    if (containerEnd < 0) return Scan.Irregular;
    while (this.pos < containerEnd) {
      const tag = this.varint32(containerEnd);
      if (tag < 0) return Scan.Irregular;
      if (tag >>> 3 !== 1) {
        if (!this.skip(tag & 7, containerEnd)) return Scan.Irregular;
        continue;
      }
      const inner = this.enter(tag & 7, containerEnd);
      if (inner < 0) return Scan.Irregular;
      const scan = field === 5 ? this.anyValue(inner, rule, depth) : this.keyValue(inner, rule, depth);
      if (scan !== Scan.Clean) return scan;
    }
    return this.pos === containerEnd ? Scan.Clean : Scan.Irregular;
  }

  /** Reads a length-delimited field's length: its end (pos at its start), or -1 when malformed. */
  private enter(wire: number, end: number): number {
    if (wire !== WIRE_LEN) return -1;
    const length = this.varint32(end);
    if (length < 0 || this.pos + length > end) return -1;
    return this.pos + length;
  }

  private text(end: number, rule: KeyRule): Scan {
    const length = this.varint32(end);
    if (length < 0 || this.pos + length > end) return Scan.Irregular;
    const start = this.pos;
    this.pos += length;
    if (!this.redactor.textMayNeedRedaction(rule, this.buf, start, this.pos)) return Scan.Clean;
    const text = this.buf.toString('utf8', start, this.pos);
    return this.redactor.textReason(rule, text) === undefined ? Scan.Clean : Scan.Secret;
  }

  private number(rule: KeyRule, wire: number, end: number): Scan {
    if (rule.action === 'redact') return Scan.Secret;
    if (!this.redactor.inspectsNumbers) return this.skip(wire, end) ? Scan.Clean : Scan.Irregular;
    const decimal = wire === WIRE_VARINT ? this.int64Text(end) : this.doubleText(end);
    if (decimal === undefined) return Scan.Irregular;
    return this.redactor.numberReason(rule, decimal) === undefined ? Scan.Clean : Scan.Secret;
  }

  /** int64 in decimal as protobufjs reads it (signed), or undefined when truncated. */
  private int64Text(end: number): string | undefined {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= end) return undefined;
      const byte = this.buf[this.pos++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, value).toString();
    }
    return undefined;
  }

  private doubleText(end: number): string | undefined {
    if (this.pos + 8 > end) return undefined;
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return String(value);
  }

  /** A varint that fits 32 bits (tags, lengths), or -1 when malformed or truncated. */
  private varint32(end: number): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= end) return -1;
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value <= 0xffffffff ? value : -1;
    }
    return -1;
  }

  private skipVarint(end: number): boolean {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) return false;
      if (this.buf[this.pos++]! < 0x80) return true;
    }
    return false;
  }

  /** Skips one field's value; false for groups (deprecated, not in OTLP) and truncation. */
  private skip(wire: number, end: number): boolean {
    switch (wire) {
      case WIRE_VARINT:
        return this.skipVarint(end);
      case WIRE_FIXED64:
        this.pos += 8;
        return this.pos <= end;
      case WIRE_LEN: {
        const length = this.varint32(end);
        if (length < 0) return false;
        this.pos += length;
        return this.pos <= end;
      }
      case WIRE_FIXED32:
        this.pos += 4;
        return this.pos <= end;
      default:
        return false;
    }
  }
}

/** Bound on the cached top-level keys; clearing only costs decoding them again. */
const MAX_CACHED_KEYS = 10_000;
/** Keys remembered by position (spans rarely carry more attributes than this). */
const MAX_REMEMBERED_POSITIONS = 128;

/**
 * Top-level key rules by the key's UTF-8 bytes: the few keys a deployment uses recur in every span,
 * and looking them up by bytes spares making a string of each.
 */
class KeyRuleCache {
  private readonly buckets = new Map<number, Array<{ readonly key: Buffer; readonly rule: KeyRule }>>();
  private size = 0;
  /** The entry last found at each position in a message: the next span most likely has the same key there. */
  private readonly byPosition: Array<{ readonly key: Buffer; readonly rule: KeyRule } | undefined> = [];

  constructor(private readonly redactor: Redactor) {}

  /** `position`: the key's index among the message's top-level keys, or -1 (nested). */
  get(buf: Buffer, start: number, end: number, parent: KeyRule | undefined, position = -1): KeyRule {
    if (start < 0) return this.redactor.keyRule('', parent);
    if (parent !== undefined) return this.redactor.keyRule(buf.toString('utf8', start, end), parent);
    const guess = position >= 0 ? this.byPosition[position] : undefined;
    if (guess !== undefined && sameBytes(guess.key, buf, start, end)) return guess.rule;
    const entry = this.lookup(buf, start, end);
    if (position >= 0 && position < MAX_REMEMBERED_POSITIONS) this.byPosition[position] = entry;
    return entry.rule;
  }

  private lookup(buf: Buffer, start: number, end: number): { readonly key: Buffer; readonly rule: KeyRule } {
    let hash = 0x811c9dc5; // FNV-1a
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
    const bucket = this.buckets.get(hash);
    if (bucket !== undefined) {
      for (const entry of bucket) if (sameBytes(entry.key, buf, start, end)) return entry;
    }
    const rule = this.redactor.keyRule(buf.toString('utf8', start, end));
    if (this.size >= MAX_CACHED_KEYS) {
      this.buckets.clear();
      this.size = 0;
    }
    // A copy: a view would keep the whole request buffer alive.
    const entry = { key: Buffer.from(buf.subarray(start, end)), rule };
    const existing = this.buckets.get(hash);
    if (existing === undefined) this.buckets.set(hash, [entry]);
    else existing.push(entry);
    this.size++;
    return entry;
  }
}

const keyRuleCaches = new WeakMap<Redactor, KeyRuleCache>();

function keyRuleCache(redactor: Redactor): KeyRuleCache {
  let cache = keyRuleCaches.get(redactor);
  if (cache === undefined) {
    cache = new KeyRuleCache(redactor);
    keyRuleCaches.set(redactor, cache);
  }
  return cache;
}

function sameBytes(a: Buffer, b: Buffer, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[start + i]) return false;
  return true;
}

/** The wire type of each AnyValue member, by field number. */
const ANY_VALUE_WIRE = [-1, WIRE_LEN, WIRE_VARINT, WIRE_VARINT, WIRE_FIXED64, WIRE_LEN, WIRE_LEN, WIRE_LEN];

/**
 * The redaction walk over decoded protobufjs messages; the same decisions as Redactor.redactAttributes
 * on the decoded model, so both list the same paths and produce the same hashes.
 */
class DecodedWalk {
  constructor(
    private readonly redactor: Redactor,
    private readonly out: Redaction[],
  ) {}

  list(attributes: KeyValueMessage[] | undefined, prefix: string): void {
    for (const kv of attributes ?? []) this.keyValue(kv, undefined, prefix, 0);
  }

  private keyValue(kv: KeyValueMessage, parent: KeyRule | undefined, prefix: string, depth: number): void {
    if (kv.value == null) return;
    const replacement = this.value(kv.value, this.redactor.keyRule(kv.key, parent), `${prefix}.${kv.key}`, depth);
    if (replacement !== undefined) kv.value = replacement;
  }

  /** The replacement for `value`, or undefined when it stays (containers are redacted in place). */
  private value(value: AnyValueMessage, rule: KeyRule, path: string, depth: number): AnyValueMessage | undefined {
    if (rule.action === 'allow') return undefined;
    // Every member present is examined, not only protobufjs's pick: the encoder writes them all.
    let found: { reason: RedactionReason; clear: string | Uint8Array } | undefined;
    const text = member<string>(value, 'stringValue');
    if (text !== undefined) found = this.finding(this.redactor.textReason(rule, text), text);
    const bytes = member<Uint8Array>(value, 'bytesValue');
    if (found === undefined && bytes !== undefined && bytes.length > 0) {
      found = this.finding(this.redactor.textReason(rule, asBuffer(bytes).toString('utf8')), bytes);
    }
    const int = member<Long | number>(value, 'intValue');
    if (found === undefined && int !== undefined) {
      const decimal = typeof int === 'number' ? String(int) : int.toString();
      found = this.finding(this.redactor.numberReason(rule, decimal), decimal);
    }
    const double = member<number>(value, 'doubleValue');
    if (found === undefined && double !== undefined) {
      const decimal = String(double);
      found = this.finding(this.redactor.numberReason(rule, decimal), decimal);
    }
    const array = member<{ values?: AnyValueMessage[] }>(value, 'arrayValue');
    const kvlist = member<{ values?: KeyValueMessage[] }>(value, 'kvlistValue');
    if (found === undefined && (array !== undefined || kvlist !== undefined) && depth >= MAX_NESTING_DEPTH) {
      const model = toAttributes([{ key: 'v', value }]).v;
      found = { reason: 'too_deep', clear: model === undefined ? '' : nestedValueText(model) };
    }
    if (found !== undefined) {
      this.out.push({ key: path, reason: found.reason });
      return { stringValue: this.redactor.hash(found.clear) };
    }
    const elements = array?.values ?? [];
    elements.forEach((element, i) => {
      const replacement = this.value(element, rule, `${path}[${i}]`, depth + 1);
      if (replacement !== undefined) elements[i] = replacement;
    });
    for (const kv of kvlist?.values ?? []) this.keyValue(kv, rule, path, depth + 1);
    return undefined;
  }

  private finding(reason: RedactionReason | undefined, clear: string | Uint8Array) {
    return reason === undefined ? undefined : { reason, clear };
  }
}

/** A oneof member actually present on a decoded message (protobufjs puts defaults on the prototype). */
function member<T>(value: AnyValueMessage, name: keyof AnyValueMessage): T | undefined {
  if (!Object.hasOwn(value, name)) return undefined;
  const v = value[name] as T | null | undefined;
  return v == null ? undefined : v;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
