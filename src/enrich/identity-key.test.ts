import { describe, expect, it } from 'vitest';
import { normaliseIdentityKey, normaliseTrustDomain, parseSpiffeId, spiffeIdProblem } from './identity-key.js';

const prod = new Set(['prod.example.org']);
const none = new Set<string>();

describe('normaliseIdentityKey', () => {
  it('trims surrounding whitespace and otherwise keeps plain keys exact', () => {
    expect(normaliseIdentityKey('  AKIAIOSFODNN7EXAMPLE\n', none)).toBe('AKIAIOSFODNN7EXAMPLE');
    expect(normaliseIdentityKey('Agent:Support', none)).toBe('Agent:Support');
  });

  it('lowercases the SPIFFE scheme and trust domain but keeps the path exact', () => {
    expect(normaliseIdentityKey('SPIFFE://CI.Example.ORG/Github/Repo', none)).toBe('spiffe://ci.example.org/Github/Repo');
    expect(normaliseIdentityKey('spiffe://ci.example.org/github/repo', none)).not.toBe(
      normaliseIdentityKey('spiffe://ci.example.org/Github/Repo', none),
    );
  });

  it('ignores trailing slashes of a SPIFFE id', () => {
    expect(normaliseIdentityKey('spiffe://ci.example.org/deploy/', none)).toBe('spiffe://ci.example.org/deploy');
    expect(normaliseIdentityKey('spiffe://ci.example.org/', none)).toBe('spiffe://ci.example.org');
  });

  it('maps a Kubernetes SPIFFE id in a listed trust domain to the service account name', () => {
    expect(normaliseIdentityKey('spiffe://Prod.Example.org/ns/payments/sa/rotator/', prod)).toBe(
      'system:serviceaccount:payments:rotator',
    );
    expect(normaliseIdentityKey('system:serviceaccount:payments:rotator', prod)).toBe('system:serviceaccount:payments:rotator');
  });

  it('keeps a Kubernetes-shaped SPIFFE id of an unlisted trust domain as a SPIFFE id', () => {
    expect(normaliseIdentityKey('spiffe://other.example.org/ns/payments/sa/rotator', prod)).toBe(
      'spiffe://other.example.org/ns/payments/sa/rotator',
    );
    expect(normaliseIdentityKey('spiffe://prod.example.org/ns/payments/sa/rotator/extra', prod)).toBe(
      'spiffe://prod.example.org/ns/payments/sa/rotator/extra',
    );
  });

  it('maps an STS assumed-role ARN to its IAM role ARN', () => {
    expect(normaliseIdentityKey('arn:aws:sts::123456789012:assumed-role/payments-rotator/i-0abc@host', none)).toBe(
      'arn:aws:iam::123456789012:role/payments-rotator',
    );
    expect(normaliseIdentityKey('arn:aws-us-gov:sts::123456789012:assumed-role/r/s', none)).toBe('arn:aws-us-gov:iam::123456789012:role/r');
  });

  it('drops the path of an IAM role ARN, as assumed-role ARNs do', () => {
    expect(normaliseIdentityKey('arn:aws:iam::123456789012:role/automation/team/jit-broker', none)).toBe(
      'arn:aws:iam::123456789012:role/jit-broker',
    );
  });

  it('keeps ARNs that are not roles or role sessions exact', () => {
    for (const arn of [
      'arn:aws:iam::123456789012:user/billing-export',
      'arn:aws:sts::123456789012:federated-user/bob',
      'arn:aws:sts::123456789012:assumed-role/no-session',
    ]) {
      expect(normaliseIdentityKey(arn, none)).toBe(arn);
    }
  });

  it('is idempotent', () => {
    for (const key of [
      ' SPIFFE://Prod.example.org/ns/a/sa/b/ ',
      'spiffe://ci.example.org/x//',
      'arn:aws:sts::123456789012:assumed-role/r/s',
      'arn:aws:iam::123456789012:role/p/r',
      'plain',
    ]) {
      const once = normaliseIdentityKey(key, prod);
      expect(normaliseIdentityKey(once, prod)).toBe(once);
    }
  });
});

describe('SPIFFE helpers', () => {
  it('splits a SPIFFE id into trust domain and path', () => {
    expect(parseSpiffeId('spiffe://TD.org/a/b/')).toEqual({ trustDomain: 'td.org', path: '/a/b' });
    expect(parseSpiffeId('system:serviceaccount:a:b')).toBeUndefined();
  });

  it('explains malformed SPIFFE ids and accepts well-formed ones', () => {
    expect(spiffeIdProblem('spiffe://prod.example.org/ns/a/sa/b')).toBeUndefined();
    expect(spiffeIdProblem('not-spiffe')).toBeUndefined();
    expect(spiffeIdProblem('spiffe:///ns/a')).toMatch(/trust domain/);
    expect(spiffeIdProblem('spiffe://td.org/a//b')).toMatch(/path segments/);
    expect(spiffeIdProblem('spiffe://td.org/a/../b')).toMatch(/path segments/);
  });

  it('accepts trust domains written as names or as spiffe:// URIs', () => {
    expect(normaliseTrustDomain(' Prod.Example.org ')).toBe('prod.example.org');
    expect(normaliseTrustDomain('spiffe://prod.example.org/')).toBe('prod.example.org');
    expect(normaliseTrustDomain('prod example')).toBeUndefined();
    expect(normaliseTrustDomain('')).toBeUndefined();
  });
});
