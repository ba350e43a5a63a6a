/**
 * Checks an encoded message against its schema before anything of it is kept. protobufjs decodes
 * leniently: it reads a known field whatever wire type its tag says and takes any bytes as a string.
 * A body that says varint where the schema says length-delimited would be acknowledged and stored, and
 * a string that is not UTF-8 (which protobuf forbids) would be stored and then make a strict
 * downstream (Go's protobuf, for one) refuse the whole forwarded batch it travels in.
 *
 * One walk per message, from rules compiled once out of the loaded .proto definitions: every known
 * field's wire type (packed encoding accepted for repeated scalars, as parsers must), lengths inside
 * their message, nesting no deeper than protobufjs decodes, and strings valid UTF-8. Unknown fields
 * are skipped, as protobuf requires. It runs on every received span, so it reads the buffer directly
 * rather than through protobufjs' Reader (which made intake decode 40% slower).
 */
import { isUtf8 } from 'node:buffer';
import protobuf from 'protobufjs';
import { ExportRequestView, InstrumentationScope, Reader, Resource, Span } from './proto.js';

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

interface FieldRule {
  readonly path: string; // `Type.field`, as errors name it
  readonly wireType: number;
  readonly packable: boolean;
  readonly utf8: boolean;
  readonly message: MessageRule | undefined;
}

interface MessageRule {
  readonly name: string;
  /** By field number; OTLP's numbers are small, so an array. */
  readonly fields: Array<FieldRule | undefined>;
}

function compile(type: protobuf.Type, compiled = new Map<protobuf.Type, MessageRule>()): MessageRule {
  const known = compiled.get(type);
  if (known !== undefined) return known;
  const rule: MessageRule = { name: type.name, fields: [] };
  compiled.set(type, rule); // before its fields, so recursive types (AnyValue) refer to themselves
  for (const field of type.fieldsArray) {
    field.resolve();
    const target = field.resolvedType;
    const basicWireType = (protobuf.types.basic as Record<string, number | undefined>)[field.type];
    rule.fields[field.id] = {
      path: `${type.name}.${field.name}`,
      wireType: target instanceof protobuf.Type ? LENGTH_DELIMITED : (basicWireType ?? VARINT), // enums are varints
      packable: field.repeated && (target instanceof protobuf.Enum || field.type in protobuf.types.packed),
      utf8: field.type === 'string',
      message: target instanceof protobuf.Type ? compile(target, compiled) : undefined,
    };
  }
  return rule;
}

const RULES = {
  request: compile(ExportRequestView),
  span: compile(Span),
  resource: compile(Resource),
  scope: compile(InstrumentationScope),
};

/** Thrown when a body is not a valid encoding of its message: the whole request is refused. */
export class WireFormatError extends Error {}

/**
 * Walks `body` as a `message` (the request envelope, whose resources, scopes and spans are opaque
 * bytes there, or one of them). Throws a WireFormatError when the encoding is invalid; returns where
 * the first string that is not UTF-8 is (`Span.attributes > KeyValue.value > AnyValue.stringValue`),
 * or undefined when every string is.
 */
export function wireProblem(message: keyof typeof RULES, body: Uint8Array): string | undefined {
  const walker = new Walker(Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  return walker.message(RULES[message], walker.buf.length, 0);
}

class Walker {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  message(rule: MessageRule, end: number, depth: number): string | undefined {
    if (depth > Reader.recursionLimit) throw new WireFormatError(`${rule.name}: messages nested deeper than ${Reader.recursionLimit}`);
    let notUtf8: string | undefined;
    const buf = this.buf;
    while (this.pos < end) {
      const tag = buf[this.pos]! < 0x80 ? buf[this.pos++]! : this.varint(end, rule); // one-byte tags: fields 1–15
      const wireType = tag & 7;
      const field = rule.fields[tag >>> 3];
      if (field === undefined) {
        if (tag >>> 3 === 0) throw new WireFormatError(`${rule.name}: field number 0`);
        this.skip(wireType, end, rule);
      } else if (wireType === field.wireType || (field.packable && wireType === LENGTH_DELIMITED)) {
        if (wireType !== LENGTH_DELIMITED) {
          this.skip(wireType, end, rule);
          continue;
        }
        const length = buf[this.pos]! < 0x80 ? buf[this.pos++]! : this.varint(end, rule);
        const stop = this.pos + length;
        if (stop > end) throw new WireFormatError(`${field.path}: length ${length} runs past the end of ${rule.name}`);
        if (field.message !== undefined) {
          const inner = this.message(field.message, stop, depth + 1);
          if (inner !== undefined) notUtf8 ??= `${field.path} > ${inner}`;
        } else if (field.utf8 && !isUtf8Range(this.buf, this.pos, stop)) {
          notUtf8 ??= field.path;
        }
        this.pos = stop;
      } else {
        throw new WireFormatError(`${field.path}: wire type ${wireType}, expected ${field.wireType}`);
      }
    }
    return notUtf8;
  }

  /** A varint of up to 64 bits; its value only when it fits 32 (tags and lengths must). */
  private varint(end: number, rule: MessageRule): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= end) throw new WireFormatError(`${rule.name}: a varint runs past the end of the message`);
      const byte = buf[this.pos++]!;
      if (shift < 28) value |= (byte & 0x7f) << shift;
      else if (shift === 28) value += (byte & 0x7f) * 2 ** 28;
      else if (byte & 0x7f) value = Number.MAX_SAFE_INTEGER; // over 35 bits: no valid tag or length
      if (byte < 0x80) return value;
    }
    throw new WireFormatError(`${rule.name}: a varint longer than 10 bytes`);
  }

  private skip(wireType: number, end: number, rule: MessageRule): void {
    switch (wireType) {
      case VARINT:
        this.varint(end, rule);
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case LENGTH_DELIMITED: {
        const length = this.varint(end, rule);
        this.pos += length;
        break;
      }
      case START_GROUP:
        this.group(end, rule);
        return;
      case FIXED32:
        this.pos += 4;
        break;
      default: // END_GROUP outside a group, 6, 7
        throw new WireFormatError(`${rule.name}: unexpected wire type ${wireType}`);
    }
    if (this.pos > end) throw new WireFormatError(`${rule.name}: a field runs past the end of the message`);
  }

  /** An unknown (proto2) group: its fields up to the matching end-group tag. */
  private group(end: number, rule: MessageRule): void {
    for (;;) {
      const wireType = this.varint(end, rule) & 7;
      if (wireType === END_GROUP) return;
      this.skip(wireType, end, rule);
    }
  }
}

/** Most strings are ASCII: check bytes here and hand Node's validator only the rest. */
function isUtf8Range(buf: Buffer, start: number, stop: number): boolean {
  for (let i = start; i < stop; i++) if (buf[i]! >= 0x80) return isUtf8(buf.subarray(i, stop));
  return true;
}
