import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  detectKeyMaterial,
  detectSecret,
  detectSecretValue,
  isSecretKeyName,
  keySuggestsSecret,
  shannonEntropy,
  words,
} from './detectors.js';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('isSecretKeyName', () => {
  it.each([
    'password',
    'client_secret',
    'http.request.header.authorization',
    'http.request.header.proxy-authorization',
    'http.response.header.set-cookie',
    'http.request.header.x-api-key',
    'nhi.installation.token',
    'db.clientPassword',
    'oauth.refresh_token',
    'github.webhook_secret',
    'stripe.api_key',
  ])('names a secret by itself: %s', (key) => {
    expect(isSecretKeyName(key)).toBe(true);
  });

  it.each([
    'nhi.change.target',
    'nhi.token.kind',
    'nhi.auth.token_type',
    'gen_ai.usage.input_tokens',
    'nhi.credential.password_expires_at',
    'nhi.secret.name',
    'nhi.policy.decision_id',
    'error.type',
    'cache.key',
  ])('does not for %s', (key) => {
    expect(isSecretKeyName(key)).toBe(false);
  });
});

describe('keySuggestsSecret', () => {
  it.each(['nhi.session.cookie_value', 'aws.request.signature', 'webhook.signing_key', 'nhi.aws.secret_material', 'auth.header_value', 'vault.creds'])(
    'suggests a secret: %s',
    (key) => expect(keySuggestsSecret(key)).toBe(true),
  );

  it.each([
    'vcs.commit.author.name', // "author" is not "auth"
    'nhi.authz.decision',
    'nhi.token.id', // describes a token, does not hold it
    'nhi.session.id',
    'nhi.credential.fingerprint',
    'nhi.secret.path',
    'cache.key',
    'k8s.pod.name',
  ])('does not for %s', (key) => expect(keySuggestsSecret(key)).toBe(false));
});

describe('detectKeyMaterial', () => {
  it('recognises random base64 and hex of 32 characters or more', () => {
    expect(detectKeyMaterial(randomBytes(33).toString('base64'))).toBe('high_entropy');
    expect(detectKeyMaterial(randomBytes(32).toString('hex'))).toBe('high_entropy');
    // AWS's documented example secret access key.
    expect(detectKeyMaterial('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe('aws_secret_key');
  });

  it.each([
    ['too short', randomBytes(12).toString('hex')],
    ['a UUID', '3f2c8a9e-5b7d-4e1f-9a6c-2d8b7e4f1a3c'],
    ['a digest with its algorithm', `sha256:${randomBytes(32).toString('hex')}`],
    ['a repeated character', 'a'.repeat(48)],
    ['a k8s name', 'payments-api-canary-7f9c8d6b5-x2x9k-eu-west-1-production'],
    ['prose', 'the quick brown fox jumps over the lazy dog again'],
    ['a URL', 'https://token.actions.githubusercontent.com/.well-known/openid-configuration'],
  ])('ignores %s', (_what, value) => {
    expect(detectKeyMaterial(value)).toBeUndefined();
  });
});

describe('detectSecretValue', () => {
  it('confirms a JWT by its header, including unsigned ones', () => {
    const unsigned = `${b64url({ alg: 'none' })}.${b64url({ sub: 'x' })}.`;
    expect(detectSecretValue(unsigned)).toBe('jwt');
    const notJwt = `${b64url({ kind: 'not-a-jwt', alg: 1 })}.${b64url({ sub: 'x' })}.abc`;
    expect(detectSecretValue(notJwt)).toBeUndefined();
  });

  it('finds a JWT inside a longer value', () => {
    const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'deployer' })}`;
    const token = `${input}.${createHmac('sha256', 'k').update(input).digest('base64url')}`;
    expect(detectSecretValue(`GET /callback#id_token=${token}&state=1`)).toBe('jwt');
  });

  it.each([
    ['a Bearer challenge', 'Bearer realm="api", error="invalid_token"'],
    ['Bearer in prose', 'Bearer authentication_required_for_this_endpoint'],
    ['Basic in prose', 'Basic authentication is disabled'],
    ['a password mention', 'vault:db/password#v7'],
    ['a URL with a port but no credentials', 'https://registry.acme.dev:8443/v2/payments/manifests/1.4.2'],
    ['an email', 'deploy-bot@acme.dev'],
    ['an sk- prefixed name', 'sk-payments-prod-eu-west-1-canary-rollout-blue'],
    ['a header name', 'eyewear-prod-store.example.com.internal.cluster'],
  ])('ignores %s', (_what, value) => {
    expect(detectSecretValue(value)).toBeUndefined();
  });
});

describe('detectSecret', () => {
  it('prefers the value shape to the key name as the reason', () => {
    expect(detectSecret('http.request.header.authorization', `Bearer ${randomBytes(24).toString('base64url')}`)).toBe('bearer_token');
    expect(detectSecret('http.request.header.authorization', 'opaque')).toBe('key_name');
  });

  it('counts entropy only under a key that suggests a secret', () => {
    const material = randomBytes(32).toString('base64');
    expect(detectSecret('nhi.session.cookie_value', material)).toBe('high_entropy');
    expect(detectSecret('nhi.evidence.blob', material)).toBeUndefined();
  });

  it('ignores empty values', () => {
    expect(detectSecret('password', '')).toBeUndefined();
  });
});

describe('helpers', () => {
  it('splits keys into words across dots, dashes and camelCase', () => {
    expect(words('http.request.header.X-Api-Key')).toEqual(['http', 'request', 'header', 'x', 'api', 'key']);
    expect(words('db.clientPassword')).toEqual(['db', 'client', 'password']);
  });

  it('measures Shannon entropy in bits per character', () => {
    expect(shannonEntropy('')).toBe(0);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBe(2);
  });
});
