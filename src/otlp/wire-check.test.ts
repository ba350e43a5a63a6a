import { describe, expect, it } from 'vitest';
import { decodeIntakeRequest, spanProblem } from './intake-request.js';
import { Span } from './proto.js';
import { WireFormatError, wireProblem } from './wire-check.js';

const NOT_UTF8 = [0xff, 0xc0, 0x80, 0xed]; // a stray byte, an overlong NUL, a cut-off surrogate

function spanBody(): Buffer {
  const span = Span.fromObject({
    traceId: Buffer.alloc(16, 1),
    spanId: Buffer.alloc(8, 2),
    name: 'name',
    kind: 2,
    startTimeUnixNano: '1764000000000000000',
    endTimeUnixNano: '1764000001000000000',
    attributes: [
      { key: 'nhi.actor.id', value: { stringValue: 'sa:deployer' } },
      { key: 'nested', value: { kvlistValue: { values: [{ key: 'inner', value: { arrayValue: { values: [{ stringValue: 'deep' }] } } }] } } },
      { key: 'ünïcode', value: { stringValue: '✓ naïve 日本' } },
    ],
    events: [{ timeUnixNano: '1764000000500000000', name: 'approved' }],
    status: { code: 1 },
  });
  return Buffer.from(Span.encode(span).finish());
}

/** `body` with the (same-length) bytes of `text` replaced by `bytes`. */
function replaced(body: Buffer, text: string, bytes: number[]): Buffer {
  const at = body.indexOf(text);
  expect(at).toBeGreaterThanOrEqual(0);
  const out = Buffer.from(body);
  out.set(bytes, at);
  return out;
}

describe('wireProblem', () => {
  it('passes a valid span, whatever its Unicode', () => {
    expect(wireProblem('span', spanBody())).toBeUndefined();
  });

  it('names the first string that is not UTF-8, down through nested values', () => {
    expect(wireProblem('span', replaced(spanBody(), 'name', NOT_UTF8))).toBe('Span.name');
    expect(wireProblem('span', replaced(spanBody(), 'deep', NOT_UTF8))).toBe(
      'Span.attributes > KeyValue.value > AnyValue.kvlistValue > KeyValueList.values > KeyValue.value > AnyValue.arrayValue > ArrayValue.values > AnyValue.stringValue',
    );
    expect(wireProblem('span', replaced(spanBody(), 'approved', [...NOT_UTF8, ...NOT_UTF8]))).toBe('Span.events > Event.name');
  });

  it('refuses a known field sent with the wrong wire type', () => {
    const body = spanBody();
    const varintName = Buffer.from(body);
    varintName[body.indexOf('name') - 2] = (5 << 3) | 0; // the tag of name, 4 bytes before it

    expect(() => wireProblem('span', varintName)).toThrow(WireFormatError);
    expect(() => wireProblem('span', varintName)).toThrow(/Span\.name: wire type 0, expected 2/);
  });

  it('refuses lengths past their message, truncation and nesting deeper than protobufjs decodes', () => {
    const body = spanBody();
    expect(() => wireProblem('span', body.subarray(0, body.length - 3))).toThrow(WireFormatError);
    // An attribute whose key claims 5 bytes of a 3-byte KeyValue, the span's name following it.
    const overlong = Buffer.concat([lengthDelimited(9, Buffer.from([(1 << 3) | 2, 5, 0x6b])), lengthDelimited(5, Buffer.from('after'))]);
    expect(() => wireProblem('span', overlong)).toThrow(/KeyValue\.key: length 5 runs past the end of KeyValue/);
    expect(wireProblem('span', deeplyNested(40))).toBeUndefined();
    expect(() => wireProblem('span', deeplyNested(60))).toThrow(/nested deeper than 100/);
  });

  it('skips unknown fields of every wire type, as protobuf requires', () => {
    const unknown = Buffer.concat([
      varint((99 << 3) | 0), Buffer.from([0x96, 0x01]),
      varint((98 << 3) | 1), Buffer.alloc(8, 7),
      varint((97 << 3) | 5), Buffer.alloc(4, 7),
      lengthDelimited(96, Buffer.from([0xff, 0xff])), // unknown, so not known to be a string
    ]);
    expect(wireProblem('span', Buffer.concat([spanBody(), unknown]))).toBeUndefined();
  });
});

describe('decodeIntakeRequest with invalid encodings', () => {
  it('refuses the span whose string is not UTF-8 and keeps its neighbours', () => {
    const good = spanBody();
    const bad = replaced(spanBody(), 'sa:deployer', [0x73, 0x61, 0x3a, ...NOT_UTF8, 0x6c, 0x6f, 0x79, 0x65]);
    const spans = decodeIntakeRequest(requestOf([good, bad])).resources[0]!.scopes[0]!.spans;
    expect(spans.map(spanProblem)).toEqual([undefined, 'Span.attributes > KeyValue.value > AnyValue.stringValue is not valid UTF-8']);
  });

  it('refuses the whole request when a resource string is not UTF-8, or the envelope is malformed', () => {
    const body = requestOf([spanBody()], 'svc.name');
    expect(() => decodeIntakeRequest(replaced(body, 'svc.name', NOT_UTF8))).toThrow(/Resource\.attributes > KeyValue\.key is not valid UTF-8/);
    const wrongWireType = Buffer.from(body);
    wrongWireType[0] = (1 << 3) | 0; // resource_spans as a varint
    expect(() => decodeIntakeRequest(wrongWireType)).toThrow(WireFormatError);
  });
});

// ---------------------------------------------------------------- raw encoding helpers

function varint(n: number): Buffer {
  const bytes: number[] = [];
  do {
    bytes.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.from(bytes);
}

const lengthDelimited = (field: number, bytes: Buffer): Buffer => Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);

/** A span whose one attribute value is an AnyValue nested `depth` arrays deep. */
function deeplyNested(depth: number): Buffer {
  let value = lengthDelimited(1, Buffer.from('x'));
  for (let i = 0; i < depth; i++) value = lengthDelimited(5, lengthDelimited(1, value));
  return lengthDelimited(9, Buffer.concat([lengthDelimited(1, Buffer.from('k')), lengthDelimited(2, value)]));
}

/** A request of one resource and scope carrying the given encoded spans as they are. */
function requestOf(spans: Buffer[], resourceKey = 'service.name'): Buffer {
  const attribute = Buffer.concat([lengthDelimited(1, Buffer.from(resourceKey)), lengthDelimited(2, lengthDelimited(1, Buffer.from('svc')))]);
  const resource = lengthDelimited(1, lengthDelimited(1, attribute));
  const scope = lengthDelimited(1, lengthDelimited(1, Buffer.from('scope')));
  const scopeSpans = lengthDelimited(2, Buffer.concat([scope, ...spans.map((span) => lengthDelimited(2, span))]));
  return lengthDelimited(1, Buffer.concat([resource, scopeSpans]));
}
