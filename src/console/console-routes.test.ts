import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BearerTokenCheck } from '../auth/bearer-token.js';
import { resolveFieldKeys } from '../evidence/fields.js';
import { resolveProfiles } from '../evidence/profiles.js';
import { buildHttpApp } from '../http/http-server.js';
import { ChainStore } from '../store/chain-store.js';
import { openDatabase, type Database } from '../store/database.js';
import { RunQueries } from '../store/run-queries.js';

const TOKEN = 'unit-console-token-0123456789';

/** The console's routes on an empty real store, behind a bearer token, through app.inject(). */
describe('console routes', () => {
  let dir: string;
  let db: Database;
  let app: FastifyInstance;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'runledger-console-'));
    writeFileSync(join(dir, 'token'), TOKEN);
    db = openDatabase({ path: join(dir, 'runledger.db'), synchronous: 'normal', busy_timeout_ms: 1000 });
    const queries = new RunQueries(db);
    const chain = new ChainStore(db);
    app = buildHttpApp({
      registry: new Registry(),
      health: { notReady: () => [] },
      auth: new BearerTokenCheck(join(dir, 'token')),
      console: {
        queries: () => queries,
        chain: () => chain,
        evidence: () => undefined,
        spans: () => [],
        profiles: resolveProfiles({}),
        fieldKeys: resolveFieldKeys({}),
        verify: () => Promise.reject(new Error('not in this test')),
      },
    });
  });

  afterEach(async () => {
    await app.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const signIn = (payload: string) =>
    app.inject({ method: 'POST', url: '/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload });

  it('sends a browser without the token to sign in, keeping where it was going', async () => {
    const response = await app.inject({ url: '/?status=violation' });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe(`/sign-in?next=${encodeURIComponent('/?status=violation')}`);
    expect((await app.inject({ url: '/integrity?verify=1' })).statusCode).toBe(303);
    // The stylesheet is public: the sign-in page needs it.
    expect((await app.inject({ url: '/console/assets/console.css' })).headers['content-type']).toMatch(/^text\/css/);
  });

  it('accepts the API token as a header, and serves pages that allow no script', async () => {
    const response = await app.inject({ url: '/', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toContain('No runs match these filters.');
  });

  it('refuses a wrong token at sign-in and sets a session cookie without the token for the right one', async () => {
    const wrong = await signIn('token=wrong-token-0123456789&next=%2F');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const right = await signIn(`token=${TOKEN}&next=${encodeURIComponent('/?kind=jit_access')}`);
    expect(right.statusCode).toBe(303);
    expect(right.headers.location).toBe('/?kind=jit_access');
    const cookie = String(right.headers['set-cookie']);
    expect(cookie).toMatch(/^runledger_console=\d+\.[0-9a-f]{64}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(TOKEN);
    const session = cookie.split(';')[0]!;
    expect((await app.inject({ url: '/', headers: { cookie: session } })).statusCode).toBe(200);
    // A forged or altered cookie is not a session.
    expect((await app.inject({ url: '/', headers: { cookie: session.replace(/.$/, (c) => (c === '0' ? '1' : '0')) } })).statusCode).toBe(303);
  });

  it('never redirects off this server after sign-in', async () => {
    for (const next of ['//evil.example/', '/\\evil.example', 'https://evil.example/']) {
      const response = await signIn(`token=${TOKEN}&next=${encodeURIComponent(next)}`);
      expect(response.headers.location, next).toBe('/');
    }
  });

  it('answers an unknown run with an HTML 404 and bad filters with the form and a message', async () => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    const missing = await app.inject({ url: '/runs/%3Cscript%3E', headers });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('run &lt;script&gt; not found');
    const bad = await app.inject({ url: '/?status=bogus&since=yesterday', headers });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('status must be one of compliant, incomplete, violation');
    expect(bad.body).toContain('value="yesterday"');
  });
});
