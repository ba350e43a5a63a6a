import { describe, expect, it } from 'vitest';
import { decodeIntakeRequest } from './intake-request.js';
import { otlpJsonToProtobuf } from './json-request.js';
import { ExportRequestView, ExportTraceServiceRequest } from './proto.js';

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';
const PARENT = 'eee19b7ec3c1b173';

/** The OTLP/JSON example shape of the specification, with every kind of field runledger stores. */
function jsonRequest(span: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeSpans: [
          {
            scope: { name: 'manual', version: '1.0.0' },
            spans: [
              {
                traceId: TRACE,
                spanId: SPAN,
                parentSpanId: PARENT,
                name: 'rotate-secret',
                kind: 2,
                startTimeUnixNano: '1764000000000000001',
                endTimeUnixNano: '1764000001000000002',
                attributes: [
                  { key: 'nhi.workflow.run.id', value: { stringValue: 'run-1' } },
                  { key: 'attempt', value: { intValue: '3' } },
                  { key: 'ratio', value: { doubleValue: 0.5 } },
                  { key: 'raw', value: { bytesValue: Buffer.from('hello').toString('base64') } },
                  { key: 'list', value: { arrayValue: { values: [{ boolValue: true }] } } },
                ],
                events: [{ timeUnixNano: '1764000000500000000', name: 'retry' }],
                links: [{ traceId: TRACE, spanId: PARENT }],
                status: { code: 2, message: 'denied' },
                ...span,
              },
            ],
          },
        ],
      },
    ],
  };
}

const encode = (value: unknown): Uint8Array => otlpJsonToProtobuf(Buffer.from(JSON.stringify(value)));

/** The same request built by protobufjs from binary ids, as a protobuf client encodes it. */
function protobufTwin(): Uint8Array {
  const json = jsonRequest() as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
  const span = json.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
  span.traceId = Buffer.from(TRACE, 'hex');
  span.spanId = Buffer.from(SPAN, 'hex');
  span.parentSpanId = Buffer.from(PARENT, 'hex');
  span.links = [{ traceId: Buffer.from(TRACE, 'hex'), spanId: Buffer.from(PARENT, 'hex') }];
  return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(json)).finish();
}

describe('otlpJsonToProtobuf', () => {
  it('yields the exact protobuf encoding a protobuf client sends for the same request', () => {
    expect(Buffer.from(encode(jsonRequest()))).toEqual(Buffer.from(protobufTwin()));
  });

  it('reads hex ids and keeps 64-bit timestamps exact', () => {
    const span = decodeIntakeRequest(encode(jsonRequest())).resources[0]!.scopes[0]!.spans[0]!;
    expect([span.traceId, span.spanId, span.parentSpanId]).toEqual([TRACE, SPAN, PARENT]);
    expect([span.startNs, span.endNs]).toEqual([1764000000000000001n, 1764000001000000002n]);
    expect([span.kind, span.statusCode, span.statusMessage]).toEqual([2, 2, 'denied']);
  });

  it('accepts enum names as well as their numbers', () => {
    const named = encode(jsonRequest({ kind: 'SPAN_KIND_SERVER', status: { code: 'STATUS_CODE_ERROR', message: 'denied' } }));
    expect(Buffer.from(named)).toEqual(Buffer.from(protobufTwin()));
  });

  it('accepts timestamps given as JSON numbers', () => {
    const span = decodeIntakeRequest(encode(jsonRequest({ startTimeUnixNano: 1000, endTimeUnixNano: 2000 }))).resources[0]!.scopes[0]!
      .spans[0]!;
    expect([span.startNs, span.endNs]).toEqual([1000n, 2000n]);
  });

  it('ignores keys it does not know (OTLP: receivers must ignore unknown fields)', () => {
    const withExtra = { ...jsonRequest(), futureField: { x: 1 } };
    expect(Buffer.from(encode(withExtra))).toEqual(Buffer.from(protobufTwin()));
  });

  it('keeps a well-formed hex id of the wrong length, so the span alone is rejected later', () => {
    const span = decodeIntakeRequest(encode(jsonRequest({ traceId: 'abcd' }))).resources[0]!.scopes[0]!.spans[0]!;
    expect(span.traceId).toBe('abcd');
  });

  it('encodes an empty object as an empty request', () => {
    expect(encode({})).toHaveLength(0);
    expect(ExportRequestView.decode(encode({ resourceSpans: [] }))).toBeDefined();
  });

  it.each([
    ['text that is not JSON', '{"resourceSpans": [', /^body is not JSON: /],
    ['a JSON list', '[]', /^body must be a JSON object$/],
    ['resourceSpans that is not a list', '{"resourceSpans": {}}', /^resourceSpans must be a list$/],
    ['a span that is not an object', '{"resourceSpans":[{"scopeSpans":[{"spans":[7]}]}]}', /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\] must be an object$/],
  ])('refuses %s', (_what, body, message) => {
    expect(() => otlpJsonToProtobuf(Buffer.from(body))).toThrow(message);
  });

  it.each([
    ['a base64 trace id', { traceId: Buffer.from(TRACE, 'hex').toString('base64') }, /spans\[0\]\.traceId must be a hex string/],
    ['an odd-length span id', { spanId: 'abc' }, /spans\[0\]\.spanId must be a hex string/],
    ['a numeric parent id', { parentSpanId: 12 }, /spans\[0\]\.parentSpanId must be a hex string/],
    ['a link id that is not hex', { links: [{ traceId: 'zz', spanId: SPAN }] }, /links\[0\]\.traceId must be a hex string/],
    ['a timestamp that is not a number', { startTimeUnixNano: 'yesterday' }, /startTimeUnixNano must be an unsigned integer/],
    ['a negative timestamp', { endTimeUnixNano: -1 }, /endTimeUnixNano must be an unsigned integer/],
    ['a timestamp past 64 bits', { endTimeUnixNano: '18446744073709551616' }, /endTimeUnixNano must be an unsigned integer/],
    ['attributes that are not a list', { attributes: 'a=b' }, /attributes: array expected/],
  ])('refuses %s, naming the field', (_what, span, message) => {
    expect(() => encode(jsonRequest(span))).toThrow(message);
  });
});
