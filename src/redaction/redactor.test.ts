import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { Attributes } from '../otlp/attributes.js';
import { redactionConfigSchema } from './config.js';
import { createRedactor, isRedactedValue } from './redactor.js';

const KEY = Buffer.alloc(32, 1);
const TOKEN = 'ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5';
const config = (raw: unknown = {}) => redactionConfigSchema.parse(raw);
const expectedHash = (value: string | Buffer, key = KEY) =>
  `redacted:hmac-sha256:${createHmac('sha256', key).update(value).digest('hex').slice(0, 32)}`;

describe('redactionConfigSchema', () => {
  it('defaults to enabled with no extra keys, patterns or allowed keys', () => {
    expect(config(undefined)).toEqual({ enabled: true, hmac_key_file: './data/redaction-hmac.key', keys: [], patterns: [], allow_keys: [] });
  });

  it('rejects unknown keys and reports invalid patterns by their YAML path', () => {
    expect(redactionConfigSchema.safeParse({ mask: true }).success).toBe(false);
    const result = redactionConfigSchema.safeParse({ patterns: ['ok', '(unclosed'] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['patterns', 1]);
    expect(result.error?.issues[0]?.message).toMatch(/not a valid regular expression/);
  });

  it('describes every option', () => {
    for (const [name, schema] of Object.entries(redactionConfigSchema.unwrap().shape)) {
      expect(schema.description, name).toBeTruthy();
    }
  });
});

describe('createRedactor', () => {
  it('refuses an HMAC key shorter than 32 bytes', () => {
    expect(() => createRedactor(config(), Buffer.alloc(16))).toThrow(ConfigError);
  });

  it('keeps its own copy of the key', () => {
    const key = Buffer.alloc(32, 5);
    const redactor = createRedactor(config(), key);
    key.fill(0);
    expect(redactor.hash('x')).toBe(expectedHash('x', Buffer.alloc(32, 5)));
  });
});

describe('redactAttributes', () => {
  const redactor = createRedactor(config({ keys: ['*.opaque'], patterns: ['CORP-\\d{6}'], allow_keys: ['nhi.debug.*'] }), KEY);

  it('returns the very same object when nothing is a secret', () => {
    const attributes: Attributes = { 'nhi.workflow.name': 'rotate', 'nhi.change.target': 'vault:db/password#v7', count: 3 };
    const result = redactor.redactAttributes(attributes);
    expect(result.attributes).toBe(attributes);
    expect(result.redactions).toEqual([]);
  });

  it('replaces secrets by their keyed hash, without mutating the input', () => {
    const attributes: Attributes = { 'nhi.github.pat': TOKEN, env: 'prod' };
    const result = redactor.redactAttributes(attributes);
    expect(result.attributes).toEqual({ 'nhi.github.pat': expectedHash(TOKEN), env: 'prod' });
    expect(result.redactions).toEqual([{ key: 'nhi.github.pat', reason: 'github_token' }]);
    expect(attributes['nhi.github.pat']).toBe(TOKEN);
  });

  it('names nested values by their path through kvlists and arrays', () => {
    const result = redactor.redactAttributes({
      config: { db: { password: 'pw', host: 'db.internal' } },
      'http.request.header.authorization': ['Bearer abcdefghijklmnop1234', 'Basic dXNlcjpwYXNzd29yZA=='],
      list: ['fine', { token: 'x' }],
    });
    expect(result.redactions).toEqual([
      { key: 'config.db.password', reason: 'key_name' },
      { key: 'http.request.header.authorization[0]', reason: 'bearer_token' },
      { key: 'http.request.header.authorization[1]', reason: 'basic_auth' },
      { key: 'list[1].token', reason: 'key_name' },
    ]);
    expect((result.attributes.config as Attributes).db).toEqual({ password: expectedHash('pw'), host: 'db.internal' });
  });

  it('redacts everything under a secret-named kvlist', () => {
    const result = redactor.redactAttributes({ 'app.secret': { a: 'one', b: 2, c: true } });
    expect(result.attributes['app.secret']).toEqual({ a: expectedHash('one'), b: expectedHash('2'), c: true });
  });

  it('applies configured keys (globs, nested paths) and patterns (to numbers too)', () => {
    const result = redactor.redactAttributes({
      'acme.billing.opaque': 'blue',
      nested: { 'x.opaque': 'green' },
      note: 'ticket CORP-123456 opened',
      ref: 123456,
    });
    expect(result.redactions).toEqual([
      { key: 'acme.billing.opaque', reason: 'configured_key' },
      { key: 'nested.x.opaque', reason: 'configured_key' },
      { key: 'note', reason: 'configured_pattern' },
    ]);
    const numbers = createRedactor(config({ patterns: ['^\\d{6}$'] }), KEY).redactAttributes({ ref: 123456 });
    expect(numbers.redactions).toEqual([{ key: 'ref', reason: 'configured_pattern' }]);
    expect(numbers.attributes.ref).toBe(expectedHash('123456'));
  });

  it('never redacts allowed keys or anything below them', () => {
    const result = redactor.redactAttributes({ 'nhi.debug.token': TOKEN, 'nhi.debug.ctx': { password: 'pw' } });
    expect(result.redactions).toEqual([]);
  });

  it('hashes bytes values over their raw bytes', () => {
    const pem = Buffer.from('-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
    const result = redactor.redactAttributes({ blob: pem });
    expect(result.attributes.blob).toBe(expectedHash(pem));
    expect(result.redactions).toEqual([{ key: 'blob', reason: 'private_key' }]);
  });

  it('leaves already-redacted values alone', () => {
    const once = redactor.redactAttributes({ password: 'pw' });
    expect(isRedactedValue(once.attributes.password as string)).toBe(true);
    const twice = redactor.redactAttributes(once.attributes);
    expect(twice.attributes).toBe(once.attributes);
  });

  it('gives equal secrets equal hashes and different keys different ones', () => {
    const other = createRedactor(config(), Buffer.alloc(32, 2));
    const a = redactor.redactAttributes({ password: TOKEN, 'x.token': TOKEN });
    expect(a.attributes.password).toBe(a.attributes['x.token']);
    expect(other.redactAttributes({ password: TOKEN }).attributes.password).not.toBe(a.attributes.password);
  });

  it('returns its input untouched when disabled', () => {
    const disabled = createRedactor(config({ enabled: false }), KEY);
    const attributes: Attributes = { password: 'pw' };
    expect(disabled.redactAttributes(attributes)).toEqual({ attributes, redactions: [] });
  });
});

describe('keyRule', () => {
  const redactor = createRedactor(config({ allow_keys: ['nhi.change.target'], keys: ['acme.*'] }), KEY);

  it('tells a nested key from a top-level key spelled the same', () => {
    const r = createRedactor(config({ allow_keys: ['x'] }), KEY);
    const result = r.redactAttributes({ x: { password: 'p' }, 'x.password': 'p' });
    expect(result.redactions).toEqual([{ key: 'x.password', reason: 'key_name' }]);
    expect((result.attributes.x as Attributes).password).toBe('p');
  });

  it('caches rules', () => {
    const parent = redactor.keyRule('nhi.context');
    expect(redactor.keyRule('token', parent)).toBe(redactor.keyRule('token', parent));
    expect(redactor.keyRule('nhi.workflow.name')).toBe(redactor.keyRule('nhi.workflow.name'));
  });

  it('orders configured keys before allowed keys before built-in names', () => {
    expect(redactor.keyRule('acme.password').reason).toBe('configured_key');
    expect(redactor.keyRule('nhi.change.target').action).toBe('allow');
    expect(redactor.keyRule('password')).toMatchObject({ action: 'redact', reason: 'key_name' });
    expect(redactor.keyRule('nhi.session.cookie_value')).toMatchObject({ action: 'inspect', secretish: true });
  });
});
