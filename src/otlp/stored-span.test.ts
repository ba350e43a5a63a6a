import { describe, expect, it } from 'vitest';
import { Long, Span } from './proto.js';
import { toAttributes, type KeyValueMessage } from './attributes.js';
import { decodeSpanFields, type DecodedSpan } from './stored-span.js';

const decodeStoredSpan = (body: Uint8Array): DecodedSpan => decodeSpanFields(body, undefined, true);

/** What protobufjs' generic decode yields for a span, converted as evaluation reads it (the reference). */
function referenceDecode(body: Uint8Array): DecodedSpan {
  const m = Span.decode(body) as unknown as {
    traceId?: Buffer; spanId?: Buffer; parentSpanId?: Buffer; name?: string; kind?: number;
    startTimeUnixNano?: Long | number; endTimeUnixNano?: Long | number;
    attributes?: KeyValueMessage[];
    events?: Array<{ name?: string; timeUnixNano?: Long; attributes?: KeyValueMessage[] }>;
    links?: Array<{ traceId?: Buffer; spanId?: Buffer; attributes?: KeyValueMessage[] }>;
    status?: { code?: number; message?: string } | null;
  };
  const hex = (b: Buffer | undefined) => (b === undefined || b.length === 0 ? '' : b.toString('hex'));
  const ns = (v: Long | number | undefined) =>
    v === undefined ? 0n : typeof v === 'number' ? BigInt(v) : (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return {
    traceId: hex(m.traceId),
    spanId: hex(m.spanId),
    parentSpanId: hex(m.parentSpanId),
    name: m.name ?? '',
    kind: m.kind ?? 0,
    startNs: ns(m.startTimeUnixNano),
    endNs: ns(m.endTimeUnixNano),
    statusCode: m.status?.code ?? 0,
    statusMessage: m.status?.message ?? '',
    attributes: toAttributes(m.attributes),
    events: (m.events ?? []).map((e) => ({ name: e.name ?? '', timeNs: ns(e.timeUnixNano), attributes: toAttributes(e.attributes) })),
    links: (m.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: toAttributes(l.attributes) })),
  };
}

const encode = (span: Record<string, unknown>): Uint8Array => Span.encode(Span.fromObject(span)).finish();
const big = (ns: bigint) => Long.fromString(ns.toString(), true);

describe('decodeStoredSpan', () => {
  it('decodes a full span exactly as protobufjs does', () => {
    const body = encode({
      traceId: Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex'),
      spanId: Buffer.from('b7ad6b7169203331', 'hex'),
      parentSpanId: Buffer.from('00f067aa0ba902b7', 'hex'),
      traceState: 'k=v',
      name: 'rotate secret',
      kind: 3,
      startTimeUnixNano: big(1_795_763_076_139_000_123n),
      endTimeUnixNano: big(18_446_744_073_709_551_615n),
      attributes: [
        { key: 's', value: { stringValue: 'héllo' } },
        { key: 'b', value: { boolValue: false } },
        { key: 'i', value: { intValue: Long.fromString('9007199254740993') } },
        { key: 'n', value: { intValue: -5 } },
        { key: 'd', value: { doubleValue: 0.5 } },
        { key: 'a', value: { arrayValue: { values: [{ stringValue: 'x' }, { intValue: 2 }, {}] } } },
        { key: 'kv', value: { kvlistValue: { values: [{ key: 'inner', value: { stringValue: 'y' } }] } } },
        { key: 'bytes', value: { bytesValue: Buffer.from([1, 2, 3]) } },
        { key: 'unset' },
        { key: 's', value: { stringValue: 'last wins' } },
      ],
      droppedAttributesCount: 2,
      events: [
        { timeUnixNano: big(1_795_763_076_140_000_000n), name: 'retry', attributes: [{ key: 'attempt', value: { intValue: 2 } }] },
        { name: 'no time' },
      ],
      links: [{ traceId: Buffer.from('11'.repeat(16), 'hex'), spanId: Buffer.from('22'.repeat(8), 'hex'), traceState: 'x', attributes: [{ key: 'l', value: { stringValue: 'v' } }] }],
      status: { code: 2, message: 'connector timed out' },
      flags: 0x100,
    });
    const decoded = decodeStoredSpan(body);
    expect(decoded).toEqual(referenceDecode(body));
    expect(decoded.endNs).toBe(18_446_744_073_709_551_615n);
    expect(decoded.attributes.s).toBe('last wins');
  });

  it('gives an empty span its defaults', () => {
    const body = encode({});
    expect(decodeStoredSpan(body)).toEqual(referenceDecode(body));
    expect(decodeStoredSpan(body)).toMatchObject({ traceId: '', name: '', startNs: 0n, statusCode: 0, statusMessage: '', events: [], links: [] });
  });

  it('lets the last status win, as protobufjs does, and skips unknown fields', () => {
    const first = encode({ name: 'a', status: { code: 2, message: 'first' } });
    const second = encode({ status: { code: 1 } });
    // An unknown field 99 (varint) between them.
    const unknown = Uint8Array.from([(99 << 3) & 0x7f | 0x80, 99 >> 4, 0x2a]);
    const body = Buffer.concat([first, unknown, second]);
    expect(decodeStoredSpan(body)).toEqual(referenceDecode(body));
    expect(decodeStoredSpan(body)).toMatchObject({ name: 'a', statusCode: 1, statusMessage: '' });
  });

  it('decodes a span given as a plain Uint8Array view into a larger buffer', () => {
    const body = encode({ spanId: Buffer.from('b7ad6b7169203331', 'hex'), name: 'x' });
    const padded = new Uint8Array(body.length + 8);
    padded.set(body, 4);
    expect(decodeStoredSpan(padded.subarray(4, 4 + body.length))).toEqual(referenceDecode(body));
  });
});
