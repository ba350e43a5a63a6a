import { describe, expect, it } from 'vitest';
import { decodeIntakeRequest, spanProblem, type IntakeSpan } from './intake-request.js';
import { KeySelector } from './key-selector.js';
import { ExportRequestView, ExportTraceServiceRequest, InstrumentationScope, Long, Resource, Span } from './proto.js';

const TRACE_ID = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
const SPAN_ID = Buffer.from('1112131415161718', 'hex');
const PARENT_ID = Buffer.from('2122232425262728', 'hex');
const START_NS = 1764000000123456789n;
const END_NS = 1764000000987654321n;

/** A Span message (protobufjs object form) with every field intake reads, plus events and links. */
function spanMessage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    parentSpanId: PARENT_ID,
    traceState: 'vendor=1',
    name: 'deploy production',
    kind: 2,
    // fixed64 nanoseconds exceed 2^53: give them as decimal strings so nothing is rounded on encode.
    startTimeUnixNano: START_NS.toString(),
    endTimeUnixNano: END_NS.toString(),
    attributes: [{ key: 'nhi.workflow.run.id', value: { stringValue: 'run-42' } }],
    events: [
      {
        timeUnixNano: '1764000000500000001',
        name: 'approval.granted',
        attributes: [{ key: 'nhi.policy.id', value: { stringValue: 'p-1' } }],
      },
    ],
    links: [{ traceId: Buffer.alloc(16, 0xaa), spanId: Buffer.alloc(8, 0xbb), traceState: 'x=y' }],
    status: { code: 2, message: 'boom' },
    ...overrides,
  };
}

function encodeRequest(spans: Array<Record<string, unknown>>, resourceAttributes: unknown[] = []): Uint8Array {
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: [
      {
        resource: { attributes: resourceAttributes },
        schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
        scopeSpans: [{ scope: { name: 'runledger-test', version: '1.2.3' }, schemaUrl: 'scope-schema', spans }],
      },
    ],
  });
  return ExportTraceServiceRequest.encode(message).finish();
}

function decodeOneSpan(overrides: Record<string, unknown> = {}): IntakeSpan {
  const request = decodeIntakeRequest(encodeRequest([spanMessage(overrides)]));
  return request.resources[0]!.scopes[0]!.spans[0]!;
}

function attributesOf(values: Record<string, unknown>): IntakeSpan['attributes'] {
  return decodeOneSpan({ attributes: Object.entries(values).map(([key, value]) => ({ key, value })) }).attributes;
}

describe('decodeIntakeRequest', () => {
  it('decodes only the selected span attributes, and keeps every attribute in the span bytes', () => {
    const long = 'k'.repeat(200); // a key whose length takes two varint bytes
    const attributes = [
      { key: 'nhi.workflow.run.id', value: { stringValue: 'run-42' } },
      { key: 'nhi.workflow.run.ix', value: { stringValue: 'same length, other key' } },
      { key: 'deploy.target', value: { stringValue: 'prod' } },
      { key: long, value: { intValue: 7 } },
    ];
    const bytes = encodeRequest([spanMessage({ attributes })]);
    const select = (keys: string[]) => decodeIntakeRequest(bytes, new KeySelector(new Set(keys))).resources[0]!.scopes[0]!.spans[0]!;

    expect(select(['nhi.workflow.run.id']).attributes).toEqual({ 'nhi.workflow.run.id': 'run-42' });
    expect(select([long, 'absent']).attributes).toEqual({ [long]: 7 });
    expect(select([]).attributes).toEqual({});
    const all = decodeIntakeRequest(bytes).resources[0]!.scopes[0]!.spans[0]!;
    expect(Object.keys(all.attributes)).toHaveLength(4);
    expect(select([]).body).toEqual(all.body);
  });

  it('finds a selected key that an encoder wrote after its value', () => {
    // KeyValue { value = 2: AnyValue { string_value: "v" }, key = 1: "k" }: legal, if unusual, field order.
    const keyValue = Buffer.from([0x12, 0x03, 0x0a, 0x01, 0x76, 0x0a, 0x01, 0x6b]);
    const span = Buffer.concat([
      Span.encode(Span.fromObject({ traceId: TRACE_ID, spanId: SPAN_ID, name: 'x' })).finish(),
      Buffer.from([0x4a, keyValue.length]),
      keyValue,
    ]);
    // Through the view, so the span's bytes reach the decoder exactly as written.
    const bytes = ExportRequestView.encode({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] }).finish();

    expect(decodeIntakeRequest(bytes, new KeySelector(new Set(['k']))).resources[0]!.scopes[0]!.spans[0]!.attributes).toEqual({ k: 'v' });
  });

  it('decodes ids as lowercase hex and keeps the routing fields', () => {
    const span = decodeOneSpan();

    expect(span.traceId).toBe('0102030405060708090a0b0c0d0e0f10');
    expect(span.spanId).toBe('1112131415161718');
    expect(span.parentSpanId).toBe('2122232425262728');
    expect(span.name).toBe('deploy production');
    expect(span.kind).toBe(2);
    expect(span.statusCode).toBe(2);
  });

  it('gives a root span an empty parent id', () => {
    expect(decodeOneSpan({ parentSpanId: Buffer.alloc(0) }).parentSpanId).toBe('');
  });

  it('keeps nanosecond timestamps beyond 2^53 exact as bigints', () => {
    const span = decodeOneSpan();

    expect(span.startNs).toBe(1764000000123456789n);
    expect(span.endNs).toBe(1764000000987654321n);
  });

  it('decodes timestamps with the top bit set as unsigned', () => {
    const span = decodeOneSpan({ startTimeUnixNano: '18446744073709551615', endTimeUnixNano: '18446744073709551615' });

    expect(span.startNs).toBe(18446744073709551615n);
  });

  it('counts spans across resources and scopes', () => {
    const message = ExportTraceServiceRequest.fromObject({
      resourceSpans: [
        { scopeSpans: [{ spans: [spanMessage(), spanMessage()] }, { spans: [spanMessage()] }] },
        { scopeSpans: [{ spans: [spanMessage()] }] },
      ],
    });

    const request = decodeIntakeRequest(ExportTraceServiceRequest.encode(message).finish());

    expect(request.spanCount).toBe(4);
    expect(request.resources).toHaveLength(2);
    expect(request.resources[0]!.scopes.map((s) => s.spans.length)).toEqual([2, 1]);
  });

  it('decodes an empty request to no resources', () => {
    expect(decodeIntakeRequest(new Uint8Array(0))).toEqual({ resources: [], spanCount: 0 });
  });

  it('decodes string attributes', () => {
    expect(attributesOf({ 'service.name': { stringValue: 'deployer' }, empty: { stringValue: '' } })).toEqual({
      'service.name': 'deployer',
      empty: '',
    });
  });

  // Regression guard (fixed bug in src/otlp/attributes.ts toValue): protobufjs puts each oneof member's default on the message
  // prototype (stringValue === ''), so `v.stringValue !== undefined` is always true and every
  // non-string AnyValue decodes as ''. The tests below fail until toValue switches on the oneof.
  it('decodes bool attributes, false included', () => {
    expect(attributesOf({ yes: { boolValue: true }, no: { boolValue: false } })).toEqual({ yes: true, no: false });
  });

  it('decodes int attributes as numbers when exact', () => {
    expect(
      attributesOf({
        count: { intValue: 42 },
        negative: { intValue: -7 },
        zero: { intValue: 0 },
        max_safe: { intValue: Long.fromString(String(Number.MAX_SAFE_INTEGER)) },
      }),
    ).toEqual({ count: 42, negative: -7, zero: 0, max_safe: Number.MAX_SAFE_INTEGER });
  });

  it('decodes int64 attributes beyond 2^53 as decimal strings, never rounded', () => {
    expect(
      attributesOf({
        big: { intValue: Long.fromString('9007199254740993') },
        min: { intValue: Long.fromString('-9223372036854775808') },
      }),
    ).toEqual({ big: '9007199254740993', min: '-9223372036854775808' });
  });

  it('decodes double attributes', () => {
    expect(attributesOf({ ratio: { doubleValue: 0.25 }, zero: { doubleValue: 0 } })).toEqual({ ratio: 0.25, zero: 0 });
  });

  it('decodes array attributes with mixed element types', () => {
    expect(
      attributesOf({ list: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 2 }, { boolValue: true }] } } }),
    ).toEqual({ list: ['a', 2, true] });
  });

  it('decodes kvlist attributes as nested objects', () => {
    expect(
      attributesOf({
        map: {
          kvlistValue: {
            values: [
              { key: 'name', value: { stringValue: 'x' } },
              { key: 'inner', value: { kvlistValue: { values: [{ key: 'n', value: { intValue: 1 } }] } } },
            ],
          },
        },
      }),
    ).toEqual({ map: { name: 'x', inner: { n: 1 } } });
  });

  it('decodes bytes attributes as bytes', () => {
    const value = attributesOf({ digest: { bytesValue: Buffer.from([0xde, 0xad, 0xbe, 0xef]) } }).digest;

    expect(value).toBeInstanceOf(Uint8Array);
    expect([...(value as Uint8Array)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });

  it('drops an attribute whose value is not set', () => {
    expect(attributesOf({ unset: {}, kept: { stringValue: 'v' } })).toEqual({ kept: 'v' });
  });

  it('keeps the exact span bytes, which decode with the full Span type to the same span', () => {
    const original = spanMessage();
    const span = decodeOneSpan();
    const asObject = { longs: String, bytes: String, enums: Number };

    const decoded = Span.toObject(Span.decode(span.body), asObject);

    expect(decoded).toEqual(Span.toObject(Span.fromObject(original), asObject));
    expect(decoded.events).toHaveLength(1);
    expect(decoded.events[0].name).toBe('approval.granted');
    expect(decoded.events[0].timeUnixNano).toBe('1764000000500000001');
    expect(decoded.links).toHaveLength(1);
    expect(decoded.links[0].traceState).toBe('x=y');
  });

  it('decodes resource attributes and keeps the resource and scope bytes with their schema urls', () => {
    const request = decodeIntakeRequest(
      encodeRequest(
        [spanMessage()],
        [
          { key: 'service.name', value: { stringValue: 'deployer' } },
          { key: 'cicd.pipeline.run.id', value: { stringValue: 'ci-7' } },
        ],
      ),
    );
    const resource = request.resources[0]!;
    const scope = resource.scopes[0]!;

    expect(resource.attributes).toEqual({ 'service.name': 'deployer', 'cicd.pipeline.run.id': 'ci-7' });
    expect(resource.schemaUrl).toBe('https://opentelemetry.io/schemas/1.30.0');
    expect(Resource.toObject(Resource.decode(resource.body)).attributes).toHaveLength(2);
    expect(scope.schemaUrl).toBe('scope-schema');
    expect(InstrumentationScope.toObject(InstrumentationScope.decode(scope.body))).toMatchObject({
      name: 'runledger-test',
      version: '1.2.3',
    });
  });

  it('gives a resource and scope that are absent empty bodies and no attributes', () => {
    const message = ExportTraceServiceRequest.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [spanMessage()] }] }] });

    const resource = decodeIntakeRequest(ExportTraceServiceRequest.encode(message).finish()).resources[0]!;

    expect(resource.body).toHaveLength(0);
    expect(resource.attributes).toEqual({});
    expect(resource.schemaUrl).toBe('');
    expect(resource.scopes[0]!.body).toHaveLength(0);
  });

  it('throws on bytes that are not a protobuf encoding', () => {
    expect(() => decodeIntakeRequest(Buffer.from('garbage bytes here!!'))).toThrow();
  });

  it('throws on a truncated request', () => {
    const bytes = encodeRequest([spanMessage()]);

    expect(() => decodeIntakeRequest(bytes.subarray(0, bytes.length - 5))).toThrow();
  });
});

describe('spanProblem', () => {
  it('accepts a valid span', () => {
    expect(spanProblem(decodeOneSpan())).toBeUndefined();
  });

  it('accepts a root span and a span whose end equals its start', () => {
    expect(spanProblem(decodeOneSpan({ parentSpanId: Buffer.alloc(0) }))).toBeUndefined();
    expect(spanProblem(decodeOneSpan({ endTimeUnixNano: START_NS.toString() }))).toBeUndefined();
  });

  it('flags an 8-byte trace id', () => {
    expect(spanProblem(decodeOneSpan({ traceId: Buffer.alloc(8, 1) }))).toBe('trace_id must be 16 bytes, got 8');
  });

  it('flags a missing trace id', () => {
    expect(spanProblem(decodeOneSpan({ traceId: Buffer.alloc(0) }))).toBe('trace_id must be 16 bytes, got 0');
  });

  it('flags an all-zero trace id', () => {
    expect(spanProblem(decodeOneSpan({ traceId: Buffer.alloc(16) }))).toBe('trace_id must not be all zero');
  });

  it('flags a 4-byte span id', () => {
    expect(spanProblem(decodeOneSpan({ spanId: Buffer.alloc(4, 1) }))).toBe('span_id must be 8 bytes, got 4');
  });

  it('flags an all-zero span id', () => {
    expect(spanProblem(decodeOneSpan({ spanId: Buffer.alloc(8) }))).toBe('span_id must not be all zero');
  });

  it('flags a parent span id that is neither empty nor 8 bytes', () => {
    expect(spanProblem(decodeOneSpan({ parentSpanId: Buffer.alloc(4, 1) }))).toBe(
      'parent_span_id must be empty or 8 bytes, got 4',
    );
  });

  it('flags a span that ends before it starts', () => {
    expect(spanProblem(decodeOneSpan({ endTimeUnixNano: (START_NS - 1n).toString() }))).toBe(
      'end_time_unix_nano is before start_time_unix_nano',
    );
  });

  it('flags a timestamp SQLite cannot store as a signed 64-bit integer', () => {
    expect(
      spanProblem(decodeOneSpan({ startTimeUnixNano: '9223372036854775808', endTimeUnixNano: '9223372036854775808' })),
    ).toBe('timestamp out of range');
  });
});
