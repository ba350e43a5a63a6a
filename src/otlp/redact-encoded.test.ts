import { createHmac } from 'node:crypto';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  ALNUM,
  CORPUS_REDACTION_CONFIG,
  NON_SECRETS as NON_SECRET_SAMPLES,
  SECRETS as SECRET_SAMPLES,
  random,
  type SampleValue,
} from '../../test/support/secret-corpus.js';
import { redactionConfigSchema, type RedactionConfig } from '../redaction/config.js';
import { createRedactor, MAX_NESTING_DEPTH, type Redaction, type Redactor } from '../redaction/redactor.js';
import { toAttributes, type KeyValueMessage } from './attributes.js';
import { InstrumentationScope, Resource, Span } from './proto.js';
import { redactEncodedResource, redactEncodedScope, redactEncodedSpan } from './redact-encoded.js';

const HMAC_KEY = Buffer.alloc(32, 7);
const OTHER_HMAC_KEY = Buffer.alloc(32, 9);
const CONFIG: RedactionConfig = redactionConfigSchema.parse(CORPUS_REDACTION_CONFIG);
const redactor = createRedactor(CONFIG, HMAC_KEY);

type AnyValueObject = Record<string, unknown>;
const str = (stringValue: string): AnyValueObject => ({ stringValue });

/** A corpus value as the OTLP AnyValue protobufjs encodes from an object. */
function anyValue(value: SampleValue): AnyValueObject {
  if (typeof value === 'string') return str(value);
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (value instanceof Uint8Array) return { bytesValue: Buffer.from(value) };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  return { kvlistValue: { values: Object.entries(value).map(([key, v]) => ({ key, value: anyValue(v as SampleValue) })) } };
}

interface CorpusEntry {
  readonly key: string;
  readonly value: AnyValueObject;
  /** What must not remain in the encoded bytes. */
  readonly clear: string;
  readonly reason: string;
}

const SECRETS: readonly CorpusEntry[] = SECRET_SAMPLES.map((s) => ({ key: s.key, value: anyValue(s.value), clear: s.clear, reason: s.reason }));
const NON_SECRETS = NON_SECRET_SAMPLES.map((s) => ({ key: s.key, value: anyValue(s.value) }));

const PLACEMENTS = ['resource', 'scope', 'span', 'event', 'link', 'kvlist', 'array'] as const;
type Placement = (typeof PLACEMENTS)[number];

interface Placed {
  readonly entry: CorpusEntry;
  readonly placement: Placement;
  /** The path its redaction record must name. */
  readonly path: string;
}

const TRACE_ID = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const SPAN_ID = Buffer.from('b7ad6b7169203331', 'hex');

/** The span, resource and scope of a request carrying `attributes` in each place. */
function encodeAll(byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>>) {
  const kvs = (p: Placement) => byPlacement[p] ?? [];
  const spanAttributes = [
    { key: 'nhi.workflow.run.id', value: str('run-42') },
    ...kvs('span'),
    ...(kvs('kvlist').length > 0 ? [{ key: 'nhi.context', value: { kvlistValue: { values: kvs('kvlist') } } }] : []),
    ...kvs('array').map(({ key, value }) => ({ key, value: { arrayValue: { values: [str('benign'), value] } } })),
  ];
  const span = Span.encode(
    Span.fromObject({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      name: 'rotate db credential',
      kind: 1,
      startTimeUnixNano: '1764000000123456789',
      endTimeUnixNano: '1764000000987654321',
      attributes: spanAttributes,
      events: [{ timeUnixNano: '1764000000500000001', name: 'credential.issued', attributes: kvs('event') }],
      links: [{ traceId: Buffer.alloc(16, 0xaa), spanId: Buffer.alloc(8, 0xbb), attributes: kvs('link') }],
      status: { code: 1 },
    }),
  ).finish();
  const resource = Resource.encode(Resource.fromObject({ attributes: [{ key: 'service.name', value: str('deployer') }, ...kvs('resource')] })).finish();
  const scope = InstrumentationScope.encode(
    InstrumentationScope.fromObject({ name: 'runledger-test', version: '1.0.0', attributes: kvs('scope') }),
  ).finish();
  return { span, resource, scope };
}

function pathOf(placement: Placement, key: string): string {
  switch (placement) {
    case 'event':
      return `events[0].attributes.${key}`;
    case 'link':
      return `links[0].attributes.${key}`;
    case 'kvlist':
      return `attributes.nhi.context.${key}`;
    case 'array':
      return `attributes.${key}[1]`;
    default:
      return `attributes.${key}`;
  }
}

function redactAll(encoded: ReturnType<typeof encodeAll>, r: Redactor = redactor) {
  return {
    span: redactEncodedSpan(encoded.span, r),
    resource: redactEncodedResource(encoded.resource, r),
    scope: redactEncodedScope(encoded.scope, r),
  };
}

function bytesOf(placement: Placement, result: ReturnType<typeof redactAll>): Uint8Array {
  return placement === 'resource' ? result.resource.bytes : placement === 'scope' ? result.scope.bytes : result.span.bytes;
}

function redactionsOf(placement: Placement, result: ReturnType<typeof redactAll>): readonly Redaction[] {
  return placement === 'resource'
    ? result.resource.redactions
    : placement === 'scope'
      ? result.scope.redactions
      : result.span.redactions;
}

function contains(bytes: Uint8Array, clear: string): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(clear) >= 0;
}

describe('secret corpus in encoded messages', () => {
  it(`has at least 30 secrets and 30 non-secrets (${SECRETS.length} and ${NON_SECRETS.length})`, () => {
    expect(SECRETS.length).toBeGreaterThanOrEqual(30);
    expect(NON_SECRETS.length).toBeGreaterThanOrEqual(30);
    expect(new Set(SECRETS.map((s) => s.key)).size).toBe(SECRETS.length);
  });

  it('redacts every secret wherever it is placed (resource, scope, span, event, link, kvlist, array): 100%', () => {
    const placed: Placed[] = SECRETS.map((entry, i) => {
      const placement = PLACEMENTS[i % PLACEMENTS.length]!;
      return { entry, placement, path: pathOf(placement, entry.key) };
    });
    const byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>> = {};
    for (const { entry, placement } of placed) (byPlacement[placement] ??= []).push({ key: entry.key, value: entry.value });
    const encoded = encodeAll(byPlacement);
    for (const { entry, placement } of placed) expect(contains(bytesOf(placement, encodeAllBytes(encoded)), entry.clear)).toBe(true);

    const result = redactAll(encoded);
    const missed = placed.filter(({ entry, placement, path }) => {
      const gone = !contains(bytesOf(placement, result), entry.clear);
      const listed = redactionsOf(placement, result).some((r) => r.key === path);
      return !(gone && listed);
    });
    const rate = (placed.length - missed.length) / placed.length;
    console.info(`secret corpus: ${placed.length - missed.length}/${placed.length} redacted (${(rate * 100).toFixed(1)}%)`);
    expect(missed.map((m) => `${m.placement} ${m.entry.key}`)).toEqual([]);
    expect(rate).toBe(1);
  });

  it.each(SECRETS.map((s) => [s.key, s] as const))('names the reason for %s', (_key, entry) => {
    const { span } = redactAll(encodeAll({ span: [{ key: entry.key, value: entry.value }] }));
    expect(span.redactions).toEqual([{ key: `attributes.${entry.key}`, reason: entry.reason }]);
    expect(contains(span.bytes, entry.clear)).toBe(false);
  });

  it('redacts none of the non-secrets and returns the very same buffers: 0%', () => {
    const byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>> = {};
    NON_SECRETS.forEach((kv, i) => (byPlacement[PLACEMENTS[i % PLACEMENTS.length]!] ??= []).push(kv));
    const encoded = encodeAll(byPlacement);
    const result = redactAll(encoded);
    const redacted = [...result.span.redactions, ...result.resource.redactions, ...result.scope.redactions];

    let falsePositives = 0;
    for (const kv of NON_SECRETS) {
      const single = redactAll(encodeAll({ span: [kv] }));
      if (single.span.redactions.length > 0) falsePositives++;
    }
    const rate = falsePositives / NON_SECRETS.length;
    console.info(`non-secret corpus: ${falsePositives}/${NON_SECRETS.length} redacted (${(rate * 100).toFixed(1)}%)`);
    expect(redacted).toEqual([]);
    expect(rate).toBe(0);
    expect(result.span.bytes).toBe(encoded.span);
    expect(result.resource.bytes).toBe(encoded.resource);
    expect(result.scope.bytes).toBe(encoded.scope);
  });
});

function encodeAllBytes(encoded: ReturnType<typeof encodeAll>): ReturnType<typeof redactAll> {
  const same = (bytes: Uint8Array) => ({ bytes, redactions: [] });
  return { span: same(encoded.span), resource: same(encoded.resource), scope: same(encoded.scope) };
}

interface DecodedSpan {
  name: string;
  attributes: KeyValueMessage[];
  events: Array<{ name: string; attributes: KeyValueMessage[] }>;
  links: Array<{ attributes: KeyValueMessage[] }>;
  status: { code: number };
  traceId: Buffer;
}

describe('redactEncodedSpan', () => {
  const token = `ghp_${random(ALNUM, 36)}`;

  it('replaces the value by its keyed hash and keeps everything else', () => {
    const { span } = encodeAll({ span: [{ key: 'nhi.github.pat', value: str(token) }, { key: 'nhi.env', value: str('prod') }] });
    const result = redactEncodedSpan(span, redactor);
    const decoded = Span.decode(result.bytes) as unknown as DecodedSpan;
    const attributes = toAttributes(decoded.attributes);
    expect(attributes['nhi.github.pat']).toBe(redactor.hash(token));
    expect(attributes['nhi.github.pat']).toMatch(/^redacted:hmac-sha256:[0-9a-f]{32}$/);
    expect(attributes['nhi.env']).toBe('prod');
    expect(attributes['nhi.workflow.run.id']).toBe('run-42');
    expect(decoded.name).toBe('rotate db credential');
    expect(decoded.traceId.equals(TRACE_ID)).toBe(true);
    expect(decoded.events[0]!.name).toBe('credential.issued');
    expect(decoded.status.code).toBe(1);
  });

  it('gives equal secrets equal hashes wherever they are, and different keys different hashes', () => {
    const encoded = encodeAll({
      span: [{ key: 'a.token', value: str(token) }],
      event: [{ key: 'b.credential', value: str(token) }],
      resource: [{ key: 'c.pat', value: str(token) }],
    });
    const mine = redactAll(encoded);
    const theirs = redactAll(encoded, createRedactor(CONFIG, OTHER_HMAC_KEY));
    const valueOf = (bytes: Uint8Array, type: 'span' | 'event' | 'resource') => {
      if (type === 'resource') return toAttributes((Resource.decode(bytes) as unknown as { attributes: KeyValueMessage[] }).attributes)['c.pat'];
      const decoded = Span.decode(bytes) as unknown as DecodedSpan;
      return type === 'span' ? toAttributes(decoded.attributes)['a.token'] : toAttributes(decoded.events[0]!.attributes)['b.credential'];
    };
    const hashes = [valueOf(mine.span.bytes, 'span'), valueOf(mine.span.bytes, 'event'), valueOf(mine.resource.bytes, 'resource')];
    expect(new Set(hashes).size).toBe(1);
    expect(hashes[0]).toMatch(/^redacted:hmac-sha256:[0-9a-f]{32}$/);
    expect(valueOf(theirs.span.bytes, 'span')).not.toBe(hashes[0]);
    expect(hashes[0]).toBe(`redacted:hmac-sha256:${createHmac('sha256', HMAC_KEY).update(token).digest('hex').slice(0, 32)}`);
  });

  it('lists the same paths and yields the same attributes as the decoded-model redaction', () => {
    const byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>> = {
      span: SECRETS.slice(0, 20).map((s) => ({ key: s.key, value: s.value })),
      kvlist: SECRETS.slice(20, 30).map((s) => ({ key: s.key, value: s.value })),
      array: SECRETS.slice(30).map((s) => ({ key: s.key, value: s.value })),
    };
    const { span } = encodeAll(byPlacement);
    const before = toAttributes((Span.decode(span) as unknown as DecodedSpan).attributes);
    const encoded = redactEncodedSpan(span, redactor);
    const model = redactor.redactAttributes(before);
    expect(model.redactions.map((r) => ({ ...r, key: `attributes.${r.key}` }))).toEqual(encoded.redactions);
    expect(model.attributes).toEqual(toAttributes((Span.decode(encoded.bytes) as unknown as DecodedSpan).attributes));
  });

  it('redacts every scalar under a secret key name, numbers too, but not booleans', () => {
    const { span } = encodeAll({
      span: [
        { key: 'db.password', value: { intValue: 918273 } },
        { key: 'vault.pin_secret', value: { doubleValue: 1234.5 } },
        { key: 'auth.token', value: { boolValue: true } },
        { key: 'client_secret', value: { arrayValue: { values: [str('a-first-secret'), str('a-second-secret')] } } },
      ],
    });
    const result = redactEncodedSpan(span, redactor);
    expect(result.redactions).toEqual([
      { key: 'attributes.db.password', reason: 'key_name' },
      { key: 'attributes.vault.pin_secret', reason: 'key_name' },
      { key: 'attributes.client_secret[0]', reason: 'key_name' },
      { key: 'attributes.client_secret[1]', reason: 'key_name' },
    ]);
    const attributes = toAttributes((Span.decode(result.bytes) as unknown as DecodedSpan).attributes);
    expect(attributes['db.password']).toBe(redactor.hash('918273'));
    expect(attributes['auth.token']).toBe(true);
  });

  it('applies configured patterns to int and double values read from the wire', () => {
    const r = createRedactor(redactionConfigSchema.parse({ patterns: ['^-?\\d{6}(?:\\.5)?$'] }), HMAC_KEY);
    const { span } = encodeAll({
      span: [
        { key: 'ticket.ref', value: { intValue: -123456 } },
        { key: 'ticket.amount', value: { doubleValue: 654321.5 } },
        { key: 'ticket.count', value: { intValue: 12 } },
      ],
    });
    const result = redactEncodedSpan(span, r);
    expect(result.redactions).toEqual([
      { key: 'attributes.ticket.ref', reason: 'configured_pattern' },
      { key: 'attributes.ticket.amount', reason: 'configured_pattern' },
    ]);
    const attributes = toAttributes((Span.decode(result.bytes) as unknown as DecodedSpan).attributes);
    expect(attributes['ticket.ref']).toBe(r.hash('-123456'));
    expect(attributes['ticket.count']).toBe(12);
  });

  it('leaves allowed keys alone, and configured keys win over allowed ones', () => {
    const r = createRedactor(
      redactionConfigSchema.parse({ allow_keys: ['nhi.debug.*'], keys: ['nhi.debug.opaque'] }),
      HMAC_KEY,
    );
    const { span } = encodeAll({
      span: [
        { key: 'nhi.debug.github_token', value: str(token) },
        { key: 'nhi.debug.opaque', value: str('plain') },
      ],
    });
    expect(redactEncodedSpan(span, r).redactions).toEqual([{ key: 'attributes.nhi.debug.opaque', reason: 'configured_key' }]);
  });

  it('returns the input untouched when redaction is disabled', () => {
    const r = createRedactor(redactionConfigSchema.parse({ enabled: false }), HMAC_KEY);
    const { span } = encodeAll({ span: [{ key: 'password', value: str('hunter2') }] });
    const result = redactEncodedSpan(span, r);
    expect(result.bytes).toBe(span);
    expect(result.redactions).toEqual([]);
  });

  it('leaves values it already redacted as they are', () => {
    const { span } = encodeAll({ span: [{ key: 'password', value: str('hunter2') }] });
    const once = redactEncodedSpan(span, redactor);
    const twice = redactEncodedSpan(once.bytes, redactor);
    expect(twice.bytes).toBe(once.bytes);
    expect(twice.redactions).toEqual([]);
  });

  it('redacts containers nested deeper than it walks, whole', () => {
    let value: AnyValueObject = str('leaf');
    for (let i = 0; i < MAX_NESTING_DEPTH + 8; i++) value = { arrayValue: { values: [value] } };
    const { span } = encodeAll({ span: [{ key: 'nhi.deep', value }] });
    const result = redactEncodedSpan(span, redactor);
    expect(result.redactions).toEqual([{ key: `attributes.nhi.deep${'[0]'.repeat(MAX_NESTING_DEPTH)}`, reason: 'too_deep' }]);
    const model = redactor.redactAttributes(toAttributes((Span.decode(span) as unknown as DecodedSpan).attributes));
    expect(model.attributes).toEqual(toAttributes((Span.decode(result.bytes) as unknown as DecodedSpan).attributes));
  });

  it('throws on kvlists nested deeper than protobufjs decodes (its limit: 100 messages)', () => {
    const anyValue = (field: number, body: Uint8Array | string) => {
      const w = protobuf.Writer.create().uint32((field << 3) | 2);
      return (typeof body === 'string' ? w.string(body) : w.bytes(body)).finish();
    };
    let value = anyValue(1, 'leaf');
    for (let i = 0; i < 40; i++) {
      const kv = protobuf.Writer.create().uint32((1 << 3) | 2).string(`l${i}`).uint32((2 << 3) | 2).bytes(value).finish();
      value = anyValue(6, protobuf.Writer.create().uint32((1 << 3) | 2).bytes(kv).finish());
    }
    const kv = protobuf.Writer.create().uint32((1 << 3) | 2).string('nhi.deep').uint32((2 << 3) | 2).bytes(value).finish();
    const span = protobuf.Writer.create().uint32((9 << 3) | 2).bytes(kv).finish();
    expect(() => redactEncodedSpan(span, redactor)).toThrow(/nesting depth/);
  });
});

describe('irregular wire structure', () => {
  /** An encoded Resource whose single KeyValue is written by hand. */
  function resourceWith(keyValue: (w: protobuf.Writer) => void): Uint8Array {
    const kv = protobuf.Writer.create();
    keyValue(kv);
    const bytes = kv.finish();
    return protobuf.Writer.create().uint32((1 << 3) | 2).bytes(bytes).finish();
  }
  const anyString = (text: string) => protobuf.Writer.create().uint32((1 << 3) | 2).string(text).finish();
  const token = `ghp_${random(ALNUM, 36)}`;

  it('rewrites a KeyValue whose value appears twice, so the hidden first value is not stored', () => {
    const bytes = resourceWith((w) => {
      w.uint32((1 << 3) | 2).string('note');
      w.uint32((2 << 3) | 2).bytes(anyString(token));
      w.uint32((2 << 3) | 2).bytes(anyString('harmless'));
    });
    expect(contains(bytes, token)).toBe(true);
    const result = redactEncodedResource(bytes, redactor);
    expect(contains(result.bytes, token)).toBe(false);
    expect(toAttributes((Resource.decode(result.bytes) as unknown as { attributes: KeyValueMessage[] }).attributes)).toEqual({
      note: 'harmless',
    });
  });

  it('examines every oneof member of an AnyValue, not only the one protobufjs reports', () => {
    const value = protobuf.Writer.create();
    value.uint32((1 << 3) | 2).string(token);
    value.uint32((3 << 3) | 0).int64(5);
    const bytes = resourceWith((w) => {
      w.uint32((1 << 3) | 2).string('note');
      w.uint32((2 << 3) | 2).bytes(value.finish());
    });
    const result = redactEncodedResource(bytes, redactor);
    expect(contains(result.bytes, token)).toBe(false);
    expect(result.redactions).toEqual([{ key: 'attributes.note', reason: 'github_token' }]);
  });

  it('throws on truncated bytes rather than storing them unexamined', () => {
    const { span } = encodeAll({ span: [{ key: 'nhi.env', value: str('production') }] });
    expect(() => redactEncodedSpan(span.subarray(0, span.length - 30), redactor)).toThrow();
  });

  it('accepts a plain Uint8Array and an empty message', () => {
    const { span } = encodeAll({ span: [{ key: 'password', value: str('hunter2') }] });
    const plain = new Uint8Array(span);
    expect(redactEncodedSpan(plain, redactor).redactions).toHaveLength(1);
    const empty = new Uint8Array(0);
    expect(redactEncodedResource(empty, redactor).bytes).toBe(empty);
  });
});
