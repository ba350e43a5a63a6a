/**
 * Export request bodies for the fault suite: valid ones whose span ids are known (to check they were
 * stored), and malformed ones, each kind named, built from valid ones or from raw protobuf bytes.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { ExportTraceServiceRequest } from '../src/otlp/proto.js';

export interface ValidRequest {
  readonly body: Buffer;
  /** Hex span ids of the request's spans. */
  readonly spanIds: readonly string[];
}

interface SpanOptions {
  readonly traceId?: Buffer;
  readonly spanId?: Buffer;
  readonly startNs?: bigint;
  readonly endNs?: bigint;
}

/**
 * A valid request: `count` spans of one run (`run`), each with `payloadBytes` of attribute text, so
 * requests can be made large. Span ids are random, so every request's spans are new.
 */
export function validRequest(run: string, count: number, payloadBytes = 0, span: SpanOptions = {}): ValidRequest {
  const traceId = span.traceId ?? randomBytes(16);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const payload = payloadBytes > 0 ? randomBytes(Math.ceil(payloadBytes / 2)).toString('hex').slice(0, payloadBytes) : undefined;
  const spans = Array.from({ length: count }, (_, i) => ({
    traceId,
    spanId: span.spanId ?? randomBytes(8),
    name: `fault-step-${i}`,
    kind: 1,
    startTimeUnixNano: (span.startNs ?? nowNs).toString(),
    endTimeUnixNano: (span.endNs ?? nowNs + 1_000_000n).toString(),
    attributes: [
      { key: 'nhi.workflow.run.id', value: { stringValue: run } },
      ...(payload === undefined ? [] : [{ key: 'fault.payload', value: { stringValue: payload } }]),
    ],
  }));
  const body = Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'runledger-faults' } }] }, scopeSpans: [{ scope: { name: 'faults' }, spans }] }],
      }),
    ).finish(),
  );
  return { body, spanIds: spans.map((s) => s.spanId.toString('hex')) };
}

/** Protobuf wire helpers, for bodies protobufjs would refuse to encode. */
const varint = (n: number | bigint): Buffer => {
  const bytes: number[] = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
};
const field = (number: number, bytes: Buffer): Buffer => Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);

/** A request of one span whose one attribute value is an AnyValue nested `depth` arrays deep. */
function deeplyNested(depth: number): Buffer {
  // Protobuf has no closing bytes: the nesting is a run of (tag, length) prefixes before the innermost
  // value, written outside in once their lengths are known (wrapping buffer by buffer copied O(depth²)).
  const innermost = field(1, Buffer.from('x')); // AnyValue.string_value
  const prefixes: Buffer[] = [];
  let length = innermost.length;
  for (let i = 0; i < depth; i++) {
    const values = Buffer.concat([varint((1 << 3) | 2), varint(length)]); // ArrayValue.values
    length += values.length;
    const array = Buffer.concat([varint((5 << 3) | 2), varint(length)]); // AnyValue.array_value
    length += array.length;
    prefixes.push(values, array);
  }
  const value = Buffer.concat([...prefixes.reverse(), innermost]);
  const attribute = Buffer.concat([field(1, Buffer.from('nested')), field(2, value)]);
  const span = Buffer.concat([field(1, randomBytes(16)), field(2, randomBytes(8)), field(5, Buffer.from('deep')), field(9, attribute)]);
  return field(1, field(2, field(2, span))); // request.resource_spans → scope_spans → spans
}

/** A span whose name and attribute key are not UTF-8. */
function invalidUtf8(): Buffer {
  const bad = Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]);
  const attribute = Buffer.concat([field(1, bad), field(2, field(1, bad))]);
  const span = Buffer.concat([field(1, randomBytes(16)), field(2, randomBytes(8)), field(5, bad), field(9, attribute)]);
  return field(1, field(2, field(2, span)));
}

/** A gzip body that inflates to `mib` MiB of zeros (far over any receive limit). */
export const gzipBombSource = (mib: number): Buffer => Buffer.alloc(mib * 1024 * 1024);

export type MalformedKind =
  | 'random_bytes'
  | 'bit_flips'
  | 'truncated'
  | 'wrong_wire_type'
  | 'huge_length_prefix'
  | 'deep_nesting'
  | 'invalid_utf8'
  | 'gzip_bomb'
  | 'zero_ids'
  | 'end_before_start';

export const MALFORMED_KINDS: readonly MalformedKind[] = [
  'random_bytes',
  'bit_flips',
  'truncated',
  'wrong_wire_type',
  'huge_length_prefix',
  'deep_nesting',
  'invalid_utf8',
  'gzip_bomb',
  'zero_ids',
  'end_before_start',
];

/** A malformed body of the given kind; `gzip` marks a body to send with the gzip encoding. */
export function malformed(kind: MalformedKind, gzipBomb: Buffer): { body: Buffer; gzip: boolean } {
  const valid = () => Buffer.from(validRequest('fault-fuzz', randomInt(1, 4), randomInt(0, 64)).body);
  switch (kind) {
    case 'random_bytes':
      // At least 64 bytes: a few random bytes can happen to be a valid (empty) request.
      return { body: randomBytes(randomInt(64, 4096)), gzip: false };
    case 'bit_flips': {
      const body = valid();
      for (let i = randomInt(1, 9); i > 0; i--) body[randomInt(body.length)]! ^= 1 << randomInt(8);
      return { body, gzip: false };
    }
    case 'truncated': {
      const body = valid();
      return { body: body.subarray(0, randomInt(1, body.length)), gzip: false };
    }
    case 'wrong_wire_type': {
      // resource_spans (field 1) sent as varint, fixed64, group or fixed32 instead of length-delimited.
      const body = valid();
      body[0] = (1 << 3) | [0, 1, 3, 4, 5, 6, 7][randomInt(7)]!;
      return { body, gzip: false };
    }
    case 'huge_length_prefix':
      // A length of up to 2^63 before a few bytes: decoders must not allocate or read past the end.
      return { body: Buffer.concat([varint((1 << 3) | 2), varint(2n ** BigInt(randomInt(31, 64)) - 1n), randomBytes(randomInt(0, 32))]), gzip: false };
    case 'deep_nesting':
      return { body: deeplyNested(randomInt(1_000, 60_000)), gzip: false };
    case 'invalid_utf8':
      return { body: invalidUtf8(), gzip: false };
    case 'gzip_bomb':
      return { body: gzipBomb, gzip: true };
    case 'zero_ids':
      return { body: validRequest('fault-fuzz', 2, 0, { traceId: Buffer.alloc(16), spanId: Buffer.alloc(8) }).body, gzip: false };
    case 'end_before_start':
      return { body: validRequest('fault-fuzz', 2, 0, { startNs: 2_000_000_000n, endNs: 1_000_000_000n }).body, gzip: false };
  }
}
