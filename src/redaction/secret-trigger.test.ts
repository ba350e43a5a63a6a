import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { matchSecretShape } from './detectors.js';
import { hasSecretTrigger } from './secret-trigger.js';

/** One minimal match per detector, in the case variants its pattern accepts. */
const SHAPES = [
  '-----BEGIN EC PRIVATE KEY-----',
  'PuTTY-User-Key-File-3: ssh-ed25519',
  `AGE-SECRET-KEY-1${'QZ'.repeat(30)}`,
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
  `ghs_${'a1B2'.repeat(9)}`,
  `github_pat_${'a1B2'.repeat(15)}`,
  `glrt-${'a1B2'.repeat(6)}`,
  'https://hooks.slack.com/services/T000/B000/XXXXXXXX',
  'xoxa-1234567890-abc',
  'xapp-1-A0123456789-abc',
  `rk_test_${'a1B2'.repeat(5)}`,
  `whsec_${'a1B2'.repeat(7)}`,
  `npm_${'a1B2'.repeat(9)}`,
  `pypi-AgE${'a1B2'.repeat(14)}`,
  `dckr_pat_${'a1B2'.repeat(6)}`,
  `hf_${'aBcD'.repeat(9)}`,
  `sk-ant-api03-${'a1B2'.repeat(9)}`,
  `sk-${'a1B2'.repeat(9)}`,
  `AIza${'a1B2'.repeat(9)}`,
  `ya29.${'a1B2'.repeat(6)}`,
  `SG.${'a1B2'.repeat(5)}.${'a1B2'.repeat(5)}`,
  `SK${'0a'.repeat(16)}`,
  'ABIA1234567890ABCDEF',
  `accountkey = ${'a1B2'.repeat(6)}`,
  `SHAREDACCESSKEY=${'a1B2'.repeat(6)}`,
  `https://x.blob.core.windows.net/c?sig=${'a1B2'.repeat(6)}`,
  `abc8Q~${'a1B2'.repeat(9)}`,
  `hvb.${'a1B2'.repeat(7)}`,
  `r.${'a1B2'.repeat(6)}`,
  'amqp://guest:guest@rabbit:5672/',
  'https://api.example.com/cb?CODE=abcdefgh12',
  '&X-Amz-Signature=abcdef0123456789',
  'PWD=x',
  'user=a password\t= secret',
  `{'API_KEY': 'x'}`,
  `{"token":"x"}`,
  `"password'  :  "x"`,
  `BEARER\u00a0${'a1B2'.repeat(5)}`,
  'basic\tdXNlcjpwYXNz',
];

describe('hasSecretTrigger', () => {
  it.each(SHAPES)('is triggered by what a detector matches: %s', (shape) => {
    expect(matchSecretShape(shape)).toBeDefined();
    expect(hasSecretTrigger(Buffer.from(shape, 'utf8'))).toBe(true);
    expect(hasSecretTrigger(Buffer.from(shape, 'latin1'))).toBe(true);
  });

  it('never rejects a value the detectors match (random values built from trigger fragments)', () => {
    const fragments = [
      ...SHAPES.flatMap((s) => [s.slice(0, 3), s.slice(0, 6), s.slice(2, 9), s]),
      'x', ' ', '=', '"', "'", ':', '/', '@', '?', '&', '.', '-', '_', '~', 'Q', '7', 'é', '\u00a0', 'ключ', 'ey', 'password',
    ];
    let state = createHash('sha256').update('seed').digest();
    const next = (n: number): number => {
      state = createHash('sha256').update(state).digest();
      return state.readUInt32BE(0) % n;
    };
    let matched = 0;
    for (let round = 0; round < 20_000; round++) {
      let value = '';
      for (let parts = 1 + next(6); parts > 0; parts--) value += fragments[next(fragments.length)];
      if (matchSecretShape(value) === undefined) continue;
      matched++;
      expect.soft(hasSecretTrigger(Buffer.from(value, 'utf8')), value).toBe(true);
      expect.soft(hasSecretTrigger(Buffer.from(value, 'latin1')), value).toBe(true);
    }
    expect(matched).toBeGreaterThan(1000);
  });

  it('reads only its byte range', () => {
    const buffer = Buffer.from('xx-----BEGIN RSA PRIVATE KEY-----');
    expect(hasSecretTrigger(buffer, 0, 8)).toBe(false);
    expect(hasSecretTrigger(buffer, 2, buffer.length)).toBe(true);
    expect(hasSecretTrigger(Buffer.from('https://host/path?x=1'), 0, 21)).toBe(false);
    expect(hasSecretTrigger(Buffer.from('https://u:p@h'), 0, 10)).toBe(false);
  });

  it.each([
    '3f2c8a9e-5b7d-4e1f-9a6c-2d8b7e4f1a3c',
    'spiffe://prod.acme.org/ns/payments/sa/rotator',
    'sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03',
    'rotate-db-credentials',
    'vault:db/password#v7',
  ])('lets a plain value through: %s', (value) => {
    expect(hasSecretTrigger(Buffer.from(value))).toBe(false);
  });
});
