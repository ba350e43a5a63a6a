import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { contentRevision } from './data-file.js';
import { loadInventory, type IdentityMatch } from './inventory.js';

const EXAMPLE = fileURLToPath(new URL('../../config/identities.example.yaml', import.meta.url));

function write(text: string, name = 'identities.yaml'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'runledger-inventory-')), name);
  writeFileSync(path, text);
  return path;
}

function problemsOf(path: string): readonly string[] {
  try {
    loadInventory(path);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(path);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError, but the inventory loaded');
}

const ROTATOR = `
spiffe_trust_domains: [prod.example.org]
identities:
  - id: sa:payments/rotator
    type: service_account
    owner: alice@example.org
    team: payments-platform
    tier: privileged
    keys:
      - system:serviceaccount:payments:rotator
      - arn:aws:iam::123456789012:role/payments-rotator
      - spiffe://prod.example.org/ns/payments/sa/rotator
  - id: workload:ci/deploy
    type: workload
    owner: bob@example.org
    team: devprod
    tier: standard
    keys:
      - spiffe://ci.example.org/github/infra/deploy
      - arn:aws:iam::123456789012:role/ci/paths/deployer
`;

const rotator: IdentityMatch = {
  id: 'sa:payments/rotator',
  type: 'service_account',
  owner: 'alice@example.org',
  team: 'payments-platform',
  tier: 'privileged',
};

describe('loadInventory', () => {
  it('loads the example inventory', () => {
    const inventory = loadInventory(EXAMPLE);
    expect(inventory.size).toBe(7);
    expect(inventory.resolve('spiffe://prod.example.org/ns/payments/sa/secret-rotator')?.id).toBe('sa:payments/secret-rotator');
    expect(inventory.resolve('arn:aws:sts::123456789012:assumed-role/jit-access-broker/req-4711')?.id).toBe('aws:jit-access-broker');
    expect(inventory.resolve('arn:aws:sts::123456789012:assumed-role/infra-copilot/session-1')?.type).toBe('ai_agent');
    expect(inventory.resolve('support-triage-v3')?.id).toBe('agent:support-triage');
    expect(inventory.resolve('AKIAIOSFODNN7EXAMPLE')?.type).toBe('api_key');
    expect(inventory.resolve('spiffe://CI.example.org/github/example-org/infra/workflow/deploy/')?.id).toBe('workload:ci/infra-deploy');
  });

  it('resolves every key of an identity, and its canonical id, to the same match', () => {
    const inventory = loadInventory(write(ROTATOR));
    for (const key of [
      'sa:payments/rotator',
      'system:serviceaccount:payments:rotator',
      'arn:aws:iam::123456789012:role/payments-rotator',
      'spiffe://prod.example.org/ns/payments/sa/rotator',
    ]) {
      expect(inventory.resolve(key)).toEqual(rotator);
    }
  });

  it('normalises the actor key: whitespace, SPIFFE case and trailing slash, SA and SPIFFE forms, STS sessions', () => {
    const inventory = loadInventory(write(ROTATOR));
    expect(inventory.resolve('  system:serviceaccount:payments:rotator\n')?.id).toBe(rotator.id);
    expect(inventory.resolve('SPIFFE://PROD.example.org/ns/payments/sa/rotator/')?.id).toBe(rotator.id);
    expect(inventory.resolve('arn:aws:sts::123456789012:assumed-role/payments-rotator/rotation-2025-11-24')?.id).toBe(rotator.id);
    expect(inventory.resolve('arn:aws:sts::123456789012:assumed-role/deployer/gh-run-991')?.id).toBe('workload:ci/deploy');
    expect(inventory.resolve('spiffe://ci.EXAMPLE.org/github/infra/deploy/')?.id).toBe('workload:ci/deploy');
  });

  it('matches a SPIFFE id to a service account listed only by name, and the reverse, in a listed trust domain', () => {
    const inventory = loadInventory(
      write(`
spiffe_trust_domains: [spiffe://Prod.Example.org]
identities:
  - { id: a, type: service_account, owner: o, team: t, tier: standard, keys: [system:serviceaccount:ns1:one] }
  - { id: b, type: workload, owner: o, team: t, tier: standard, keys: [spiffe://prod.example.org/ns/ns2/sa/two] }
`),
    );
    expect(inventory.resolve('spiffe://prod.example.org/ns/ns1/sa/one')?.id).toBe('a');
    expect(inventory.resolve('system:serviceaccount:ns2:two')?.id).toBe('b');
  });

  it('does not treat SPIFFE ids of unlisted trust domains as service accounts', () => {
    const inventory = loadInventory(write(ROTATOR));
    expect(inventory.resolve('spiffe://staging.example.org/ns/payments/sa/rotator')).toBeUndefined();
  });

  it('keeps SPIFFE paths and plain keys case-sensitive', () => {
    const inventory = loadInventory(write(ROTATOR));
    expect(inventory.resolve('spiffe://ci.example.org/GitHub/infra/deploy')).toBeUndefined();
    expect(inventory.resolve('SA:payments/rotator')).toBeUndefined();
  });

  it('resolves nothing for unknown and empty keys', () => {
    const inventory = loadInventory(write(ROTATOR));
    expect(inventory.resolve('system:serviceaccount:payments:other')).toBeUndefined();
    expect(inventory.resolve('')).toBeUndefined();
    expect(inventory.resolve('   ')).toBeUndefined();
  });

  it('records the revision of the file bytes and the number of identities', () => {
    const inventory = loadInventory(write(ROTATOR));
    expect(inventory.revision).toBe(contentRevision(ROTATOR));
    expect(inventory.size).toBe(2);
    expect(inventory.identities().map((i) => i.id)).toEqual(['sa:payments/rotator', 'workload:ci/deploy']);
  });

  it('reads JSON by extension or content', () => {
    const json = JSON.stringify({
      identities: [{ id: 'k', type: 'api_key', owner: 'o', team: 't', tier: 'standard', keys: ['key-1'] }],
    });
    expect(loadInventory(write(json, 'identities.json')).resolve('key-1')?.id).toBe('k');
    expect(loadInventory(write(json, 'identities')).resolve('key-1')?.id).toBe('k');
  });

  it('hands out frozen matches', () => {
    const match = loadInventory(write(ROTATOR)).resolve(rotator.id)!;
    expect(Object.isFrozen(match)).toBe(true);
  });

  it('lists every schema problem with its path at once', () => {
    const problems = problemsOf(
      write(`
spiffe_trust_domains: ["not a domain"]
identities:
  - id: a
    type: robot
    owner: ""
    team: t
    keys: [spiffe://td.org/a//b, 7]
    extra: 1
`),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^spiffe_trust_domains\.0: not a SPIFFE trust domain/),
        expect.stringMatching(/^identities\.0\.type: /),
        'identities.0.owner: must not be empty',
        expect.stringMatching(/^identities\.0\.tier: /),
        expect.stringMatching(/^identities\.0\.keys\.0: not a SPIFFE ID/),
        expect.stringMatching(/^identities\.0\.keys\.1: /),
        'identities.0.extra: unknown key',
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it('requires the identities list, so an empty file is not taken for an empty inventory', () => {
    expect(problemsOf(write(''))).toEqual([expect.stringMatching(/^\(root\): /)]);
    expect(problemsOf(write('spiffe_trust_domains: []\n'))).toEqual([expect.stringMatching(/^identities: /)]);
  });

  it('rejects a key shared by two identities, naming both, even when spelt differently', () => {
    const problems = problemsOf(
      write(`
spiffe_trust_domains: [prod.example.org]
identities:
  - { id: sa:one, type: service_account, owner: o, team: t, tier: s, keys: [system:serviceaccount:p:rotator] }
  - { id: sa:two, type: service_account, owner: o, team: t, tier: s, keys: [spiffe://prod.example.org/ns/p/sa/rotator/] }
  - { id: role:three, type: service_account, owner: o, team: t, tier: s, keys: [arn:aws:iam::123456789012:role/a/r] }
  - { id: role:four, type: service_account, owner: o, team: t, tier: s, keys: [arn:aws:iam::123456789012:role/b/r] }
  - { id: five, type: api_key, owner: o, team: t, tier: s, keys: [sa:one] }
`),
    );
    expect(problems).toEqual([
      'identities.1.keys.0: key "spiffe://prod.example.org/ns/p/sa/rotator/" refers to both "sa:one" (identities.0.keys.0) and "sa:two"',
      'identities.3.keys.0: key "arn:aws:iam::123456789012:role/b/r" refers to both "role:three" (identities.2.keys.0) and "role:four"',
      'identities.4.keys.0: key "sa:one" refers to both "sa:one" (identities.0.id) and "five"',
    ]);
  });

  it('rejects duplicate ids, and reports them alongside schema problems', () => {
    const problems = problemsOf(
      write(`
identities:
  - { id: a, type: api_key, owner: o, team: t, tier: s }
  - { id: a, type: token, owner: o, team: t, tier: s }
  - { id: b, type: nope, owner: o, team: t, tier: s }
`),
    );
    expect(problems).toEqual([expect.stringMatching(/^identities\.2\.type: /), 'identities.1.id: duplicate id "a" (first at identities.0)']);
  });

  it('accepts the same account listed twice under one identity', () => {
    const inventory = loadInventory(write(ROTATOR));
    expect(inventory.size).toBe(2);
  });

  it('resolves each key of a 10,000-identity inventory', () => {
    // Generated inventories this large are JSON: the YAML parser reads about 1.5 MB/s.
    const identities = Array.from({ length: 10_000 }, (_, i) => ({
      id: `sa:ns${i % 50}/svc-${i}`,
      type: 'service_account',
      owner: `owner-${i % 97}@example.org`,
      team: `team-${i % 13}`,
      tier: 'standard',
      keys: [`system:serviceaccount:ns${i % 50}:svc-${i}`, `arn:aws:iam::123456789012:role/svc-${i}`, `key-${i}`],
    }));
    const inventory = loadInventory(write(JSON.stringify({ spiffe_trust_domains: ['prod.example.org'], identities }), 'identities.json'));
    expect(inventory.size).toBe(10_000);
    let resolved = 0;
    for (let i = 0; i < 10_000; i++) {
      const id = `sa:ns${i % 50}/svc-${i}`;
      for (const key of [
        id,
        `system:serviceaccount:ns${i % 50}:svc-${i}`,
        `spiffe://prod.example.org/ns/ns${i % 50}/sa/svc-${i}`,
        `arn:aws:iam::123456789012:role/svc-${i}`,
        `arn:aws:sts::123456789012:assumed-role/svc-${i}/session`,
        `key-${i}`,
      ]) {
        if (inventory.resolve(key)?.id === id) resolved++;
      }
    }
    expect(resolved).toBe(60_000);
  });
});
