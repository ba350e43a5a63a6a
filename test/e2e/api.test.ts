import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { JIT_BROKER, MIX_ORDER, ROTATOR, ROTATOR_EU, sendRunMix, type MixRunName, type RunMix } from '../support/run-mix.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { runledgerCli, showRun, waitForRuns, type RunView } from '../support/runs-cli.js';
import { emitRun } from '../support/workflows.js';
import { PATIENCE_MS } from '../support/patience.js';

/**
 * The HTTP API (/api/v1) end to end: a known mix of runs (test/support/run-mix.ts) sent through the real
 * OTel SDK exporter to a real `runledger serve`, read back over HTTP and compared with the CLI.
 */

interface ListPage {
  readonly runs: RunView[];
  readonly next_cursor: string | null;
}

interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

interface ChainRowJson {
  readonly seq: number;
  readonly kind: string;
  readonly run_key: string | null;
  readonly revision: number | null;
  readonly created_ns: string;
  /** Canonical JSON; a revision row's holds record_sha256. */
  readonly payload: string;
  readonly prev_hash: string;
  readonly record_hash: string;
}

interface EvidenceBundle {
  readonly bundle_version: number;
  readonly generated_at: string;
  readonly run: RunView;
  readonly revisions: RunView[];
  readonly spans: Array<{ trace_id: string; span_id: string; parent_span_id: string | null; name: string; attributes: Record<string, unknown> }>;
  readonly finding_codes: Record<string, { severity: string; controls: string[] } | null>;
  readonly integrity: {
    readonly canonicalization_version: unknown;
    readonly how_to_verify: string;
    readonly revisions: ChainRowJson[];
    readonly record_texts: Array<{ revision: number; text: string | null }>;
    readonly path: ChainRowJson[];
    readonly checkpoint: { size: number; head_hash: string; origin: string; body: string; signature: string; created_ns: string } | null;
    readonly public_key_pem: string | null;
  };
}

const ORIGIN = 'runledger-e2e-api';

describe('HTTP API /api/v1 after real OTel traffic', () => {
  let dir: string;
  let runledger: RunledgerProcess;
  let sender: OtelSender;
  let mix: RunMix;

  async function get<T>(path: string): Promise<{ status: number; body: T; contentType: string | null }> {
    const response = await fetch(`${runledger.httpUrl}${path}`);
    return { status: response.status, body: (await response.json()) as T, contentType: response.headers.get('content-type') };
  }

  /** Run ids of the named mix runs, in the order the API must list them (newest start first). */
  const newestFirst = (...names: MixRunName[]): string[] => mix.newestFirst.filter((id) => mix.ids(...names).includes(id));
  const iso = (ms: number): string => new Date(ms).toISOString();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-api-'));
    runledger = await startRunledger({
      dir,
      config: {
        runs: { settle_ms: 200 },
        // checkpoint_every_records high: the checkpoint comes from the 1 s interval.
        integrity: { signing_key_file: join(dir, 'signing-key.pem'), origin: ORIGIN, checkpoint_every_records: 1000, checkpoint_interval_seconds: 1 },
        // Keys in the temp dir, not ./data of the working directory.
        redaction: { hmac_key_file: join(dir, 'redaction-hmac.key') },
      },
    });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-api' });
    mix = await sendRunMix(sender, runledger.dbPath, 'api');
    // A late span (an audit write) under a1's root amends a1: revision 2.
    const a1 = mix.runs.a1;
    emitRun(sender.tracer, { name: 'write audit record' }, { clock: a1.clock, parent: a1.emitted.rootContext });
    await sender.flush();
    await waitForRuns(runledger.dbPath, [a1.runId], { minRevision: 2 });
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('GET /api/v1/runs', () => {
    it('lists every run newest first as {runs, next_cursor}, latest revision each, without steps', async () => {
      const { status, body, contentType } = await get<ListPage>('/api/v1/runs');
      expect(status).toBe(200);
      expect(contentType).toMatch(/^application\/json/);
      expect(Object.keys(body).sort()).toEqual(['next_cursor', 'runs']);
      expect(body.next_cursor).toBeNull();
      expect(body.runs.map((r) => r.run_id)).toEqual(mix.newestFirst);
      const byId = new Map(body.runs.map((r) => [r.run_id, r]));
      const expected: Record<MixRunName, { workflow: string; kind: string; status: string; revision: number; actor: string }> = {
        a1: { workflow: mix.workflowA, kind: 'secret_rotation', status: 'compliant', revision: 2, actor: ROTATOR },
        a2: { workflow: mix.workflowA, kind: 'secret_rotation', status: 'compliant', revision: 1, actor: ROTATOR_EU },
        a3: { workflow: mix.workflowA, kind: 'secret_rotation', status: 'compliant', revision: 1, actor: ROTATOR },
        b1: { workflow: mix.workflowB, kind: 'jit_access', status: 'incomplete', revision: 1, actor: JIT_BROKER },
        b2: { workflow: mix.workflowB, kind: 'jit_access', status: 'incomplete', revision: 1, actor: JIT_BROKER },
        v: { workflow: mix.workflowA, kind: 'secret_rotation', status: 'violation', revision: 1, actor: ROTATOR },
      };
      for (const name of MIX_ORDER) {
        const run = byId.get(mix.runs[name].runId)!;
        const want = expected[name];
        expect(run, name).toMatchObject({ state: 'evaluated', workflow: want.workflow, kind: want.kind, status: want.status, revision: want.revision, outcome: 'complete' });
        expect(run.actor?.id, name).toBe(want.actor);
        expect(run.steps, name).toBeUndefined();
        expect(run.evidence, name).toBeUndefined();
      }
    });

    // Each filter alone and combined; expected ids are in newest-first order.
    const filterCases: Array<[string, () => string, MixRunName[]]> = [
      ['status=compliant', () => 'status=compliant', ['a1', 'a2', 'a3']],
      ['status=incomplete', () => 'status=incomplete', ['b1', 'b2']],
      ['status=violation', () => 'status=violation', ['v']],
      ['workflow=A', () => `workflow=${encodeURIComponent(mix.workflowA)}`, ['a1', 'a2', 'a3', 'v']],
      ['workflow=B', () => `workflow=${encodeURIComponent(mix.workflowB)}`, ['b1', 'b2']],
      ['workflow unknown', () => `workflow=${encodeURIComponent(`${mix.workflowA}-none`)}`, []],
      ['kind=secret_rotation', () => 'kind=secret_rotation', ['a1', 'a2', 'a3', 'v']],
      ['kind=jit_access', () => 'kind=jit_access', ['b1', 'b2']],
      ['actor=rotator', () => `actor=${encodeURIComponent(ROTATOR)}`, ['a1', 'a3', 'v']],
      ['actor=rotator-eu', () => `actor=${encodeURIComponent(ROTATOR_EU)}`, ['a2']],
      ['actor=jit-broker', () => `actor=${encodeURIComponent(JIT_BROKER)}`, ['b1', 'b2']],
      ['finding=replayed_trigger', () => 'finding=replayed_trigger', ['v']],
      ['finding=missing_field', () => 'finding=missing_field', ['b1', 'b2']],
      ['finding=ungated_change (none)', () => 'finding=ungated_change', []],
      // since is inclusive, until exclusive, both on the run's start.
      ['since (after a3 started)', () => `since=${iso(mix.runs.a3.startedAtMs + 1)}`, ['b1', 'b2', 'v']],
      ['since = a2 start exactly', () => `since=${iso(mix.runs.a2.startedAtMs)}`, ['a2', 'a3', 'b1', 'b2', 'v']],
      ['until = a3 start exactly', () => `until=${iso(mix.runs.a3.startedAtMs)}`, ['a1', 'a2']],
      ['since + until', () => `since=${iso(mix.runs.a2.startedAtMs)}&until=${iso(mix.runs.b2.startedAtMs)}`, ['a2', 'a3', 'b1']],
      [
        'since with a +02:00 offset',
        () => `since=${encodeURIComponent(offsetIso(mix.runs.b1.startedAtMs, 120))}`,
        ['b1', 'b2', 'v'],
      ],
      ['status + actor', () => `status=compliant&actor=${encodeURIComponent(ROTATOR)}`, ['a1', 'a3']],
      ['workflow + finding', () => `workflow=${encodeURIComponent(mix.workflowA)}&finding=replayed_trigger`, ['v']],
      ['kind + status mismatch', () => 'kind=jit_access&status=compliant', []],
    ];
    it.each(filterCases)('filter %s returns exactly the expected runs', async (_label, query, names) => {
      const { status, body } = await get<ListPage>(`/api/v1/runs?${query()}`);
      expect(status).toBe(200);
      expect(body.runs.map((r) => r.run_id)).toEqual(newestFirst(...names));
      expect(body.next_cursor).toBeNull();
    });

    async function walk(query: string, limit: number): Promise<{ pages: string[][]; cursors: Array<string | null> }> {
      const pages: string[][] = [];
      const cursors: Array<string | null> = [];
      let cursor: string | null = null;
      do {
        const params = new URLSearchParams(query);
        params.set('limit', String(limit));
        if (cursor !== null) params.set('cursor', cursor);
        const { status, body }: { status: number; body: ListPage } = await get<ListPage>(`/api/v1/runs?${params}`);
        expect(status).toBe(200);
        pages.push(body.runs.map((r) => r.run_id));
        cursors.push(body.next_cursor);
        cursor = body.next_cursor;
        if (pages.length > 20) throw new Error('pagination does not end');
      } while (cursor !== null);
      return { pages, cursors };
    }

    it.each([1, 2, 4, 5, 6, 100])('walks all runs with limit=%i and the cursor: no duplicates, no gaps, null cursor last', async (limit) => {
      const { pages, cursors } = await walk('', limit);
      expect(pages.flat()).toEqual(mix.newestFirst);
      expect(new Set(pages.flat()).size).toBe(pages.flat().length);
      expect(pages.length).toBe(Math.max(1, Math.ceil(mix.newestFirst.length / limit)));
      for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
      expect(cursors.at(-1)).toBeNull();
      for (const cursor of cursors.slice(0, -1)) expect(cursor).toEqual(expect.any(String));
    });

    it('paginates a filtered list (workflow, and finding which walks its own index) with the cursor', async () => {
      const byWorkflow = await walk(`workflow=${mix.workflowA}`, 1);
      expect(byWorkflow.pages).toEqual(newestFirst('a1', 'a2', 'a3', 'v').map((id) => [id]));
      expect(byWorkflow.cursors.at(-1)).toBeNull();
      const byFinding = await walk('finding=missing_field', 1);
      expect(byFinding.pages).toEqual(newestFirst('b1', 'b2').map((id) => [id]));
      const byTime = await walk(`since=${iso(mix.runs.a2.startedAtMs)}&until=${iso(mix.runs.v.startedAtMs)}`, 3);
      expect(byTime.pages).toEqual([newestFirst('a3', 'b1', 'b2'), newestFirst('a2')]);
    });

    it('returns the same runs as `runs list --json`', async () => {
      const [api, cli] = await Promise.all([
        get<ListPage>('/api/v1/runs'),
        runledgerCli(['runs', 'list', '--config', runledger.configPath, '--json']),
      ]);
      expect(cli.code).toBe(0);
      expect(api.body.runs).toEqual(JSON.parse(cli.stdout));
    });
  });

  describe('GET /api/v1/runs/{run_id}', () => {
    it('answers the `runs show --json` shape: findings with controls, steps and revisions', async () => {
      const v = mix.runs.v;
      const { status, body } = await get<RunView>(`/api/v1/runs/${v.runId}`);
      expect(status).toBe(200);
      for (const key of ['run_id', 'revision', 'state', 'workflow', 'kind', 'status', 'outcome', 'actor', 'started_at', 'ended_at', 'findings', 'steps', 'revisions']) {
        expect(body, key).toHaveProperty(key);
      }
      expect(body).toMatchObject({
        run_id: v.runId,
        revision: 1,
        state: 'evaluated',
        workflow: mix.workflowA,
        kind: 'secret_rotation',
        status: 'violation',
        outcome: 'complete',
        actor: { id: ROTATOR, type: 'service_account' },
      });
      expect(body.findings?.map((f) => f.code)).toEqual(['replayed_trigger']);
      const finding = body.findings![0]!;
      expect(finding).toMatchObject({ severity: 'critical', field: 'trigger.event_id' });
      expect(finding.message).toContain(mix.runs.a3.runId);
      expect(finding.controls).toEqual(expect.arrayContaining(['NHI4', 'DE.CM-09']));
      expect(body.steps?.map((s) => s.span_id).sort()).toEqual(v.emitted.spans.map((s) => s.spanId).sort());
      expect(body.steps?.find((s) => s.span_id === v.emitted.rootSpanId)?.root).toBe(true);
      expect(body.revisions).toEqual([expect.objectContaining({ revision: 1, reason: 'settled', status: 'violation', outcome: 'complete' })]);
    });

    it('answers exactly what `runs show ID --json` prints, for every run', async () => {
      await Promise.all(
        MIX_ORDER.map(async (name) => {
          const id = mix.runs[name].runId;
          const [api, cli] = await Promise.all([get<RunView>(`/api/v1/runs/${encodeURIComponent(id)}`), showRun(runledger.configPath, id)]);
          expect(api.status, name).toBe(200);
          expect(api.body, name).toEqual(cli);
        }),
      );
    });

    it('answers the latest revision (2) of an amended run by default, and revision 1 with ?revision=1', async () => {
      const a1 = mix.runs.a1;
      const [latest, first, cliFirst] = await Promise.all([
        get<RunView>(`/api/v1/runs/${a1.runId}`),
        get<RunView>(`/api/v1/runs/${a1.runId}?revision=1`),
        showRun(runledger.configPath, a1.runId, { revision: 1 }),
      ]);
      expect(latest.status).toBe(200);
      expect(first.status).toBe(200);
      expect(latest.body.revision).toBe(2);
      expect(first.body.revision).toBe(1);
      expect(first.body).toEqual(cliFirst);
      const reasons = [{ revision: 1, reason: 'settled' }, { revision: 2, reason: 'amended' }].map((r) => expect.objectContaining(r));
      expect(latest.body.revisions).toEqual(reasons);
      expect(first.body.revisions).toEqual(reasons);
      // Revision 1 was judged before the late span came; revision 2 includes it.
      const lateSpan = latest.body.steps?.find((s) => s.name === 'write audit record');
      expect(lateSpan).toBeDefined();
      expect(first.body.steps?.some((s) => s.name === 'write audit record')).toBe(false);
      expect(latest.body.steps).toHaveLength(first.body.steps!.length + 1);
    });
  });

  describe('GET /api/v1/runs/{run_id}/evidence', () => {
    /** The bundle once a signed checkpoint covers the run's last revision (written every second). */
    async function checkpointedBundle(runId: string): Promise<EvidenceBundle> {
      const deadline = Date.now() + PATIENCE_MS;
      for (;;) {
        const { status, body } = await get<EvidenceBundle>(`/api/v1/runs/${runId}/evidence`);
        expect(status).toBe(200);
        const lastSeq = Math.max(...body.integrity.revisions.map((r) => r.seq));
        if (body.integrity.checkpoint !== null && body.integrity.checkpoint.size >= lastSeq) return body;
        if (Date.now() > deadline) throw new Error(`no checkpoint covers seq ${lastSeq} of ${runId}: ${JSON.stringify(body.integrity.checkpoint)}`);
        await sleep(200);
      }
    }

    it('holds the run, every revision, its spans with attributes, finding controls and the chain proof', async () => {
      const a1 = mix.runs.a1;
      const bundle = await checkpointedBundle(a1.runId);
      expect(bundle.bundle_version).toBe(1);
      expect(Date.parse(bundle.generated_at)).not.toBeNaN();
      const { body: run } = await get<RunView>(`/api/v1/runs/${a1.runId}`);
      expect(bundle.run).toEqual(run);
      expect(bundle.revisions.map((r) => r.revision)).toEqual([1, 2]);
      expect(bundle.revisions[0]).toEqual((await get<RunView>(`/api/v1/runs/${a1.runId}?revision=1`)).body);

      // Every span the exporter sent, plus the late one, with their attributes.
      const sentIds = a1.emitted.spans.map((s) => s.spanId);
      const spanIds = bundle.spans.map((s) => s.span_id);
      expect(spanIds).toEqual(expect.arrayContaining(sentIds));
      expect(spanIds).toHaveLength(sentIds.length + 1);
      const root = bundle.spans.find((s) => s.span_id === a1.emitted.rootSpanId)!;
      expect(root.parent_span_id).toBeNull();
      expect(root.attributes).toMatchObject({
        'nhi.workflow.run.id': a1.runId,
        'nhi.workflow.name': mix.workflowA,
        'nhi.workflow.kind': 'secret_rotation',
        'nhi.actor.id': ROTATOR,
      });
      const revoke = bundle.spans.find((s) => s.name === 'revoke vault:kv/smtp#v4')!;
      expect(revoke.attributes).toEqual({ 'nhi.change.operation': 'revoke', 'nhi.change.target': 'vault:kv/smtp#v4' });
      expect(bundle.finding_codes).toEqual({});

      // Chain proof: one revision row per revision, a linked path up to a signed checkpoint over its head.
      const { revisions, path, checkpoint } = bundle.integrity;
      expect(revisions.map((r) => [r.kind, r.run_key, r.revision])).toEqual([
        ['revision', a1.runId, 1],
        ['revision', a1.runId, 2],
      ]);
      expect(path[0]).toEqual(revisions[0]);
      expect(path.at(-1)!.seq).toBe(checkpoint!.size);
      for (let i = 1; i < path.length; i++) {
        expect(path[i]!.seq).toBe(path[i - 1]!.seq + 1);
        expect(path[i]!.prev_hash).toBe(path[i - 1]!.record_hash);
      }
      for (const row of revisions) expect(path).toContainEqual(row);
      // Each revision's stored record text is what its chain row's record_sha256 covers.
      expect(bundle.integrity.record_texts.map((t) => t.revision)).toEqual([1, 2]);
      for (const row of revisions) {
        const text = bundle.integrity.record_texts.find((t) => t.revision === row.revision)!.text!;
        const digest = createHash('sha256').update(text, 'utf8').digest('hex');
        expect((JSON.parse(row.payload) as { record_sha256: string }).record_sha256).toBe(digest);
        expect(JSON.parse(text)).toMatchObject({ run_id: a1.runId, revision: row.revision });
      }
      expect(checkpoint).toMatchObject({ origin: ORIGIN, head_hash: path.at(-1)!.record_hash });
      expect(checkpoint!.body).toMatch(new RegExp(`^${ORIGIN}\\n${checkpoint!.size}\\n`));
      expect(checkpoint!.signature).toEqual(expect.any(String));
      expect(bundle.integrity.public_key_pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
      expect(bundle.integrity.how_to_verify).toContain('record_hash');
    });

    it("lists a violation's finding codes with their control references", async () => {
      const bundle = await checkpointedBundle(mix.runs.v.runId);
      expect(Object.keys(bundle.finding_codes)).toEqual(['replayed_trigger']);
      expect(bundle.finding_codes.replayed_trigger).toMatchObject({ severity: 'critical' });
      expect(bundle.finding_codes.replayed_trigger!.controls).toEqual(expect.arrayContaining(['NHI4', 'DE.CM-09']));
      const incomplete = await checkpointedBundle(mix.runs.b1.runId);
      expect(Object.keys(incomplete.finding_codes)).toEqual(['missing_field']);
      expect(incomplete.finding_codes.missing_field!.controls.length).toBeGreaterThan(0);
    });

    it('equals what `runledger export ID` prints, apart from generated_at', async () => {
      for (const name of ['a1', 'v'] as const) {
        const id = mix.runs[name].runId;
        const api = await checkpointedBundle(id);
        const cli = await runledgerCli(['export', id, '--config', runledger.configPath]);
        expect(cli.code, cli.stderr).toBe(0);
        const exported = JSON.parse(cli.stdout) as EvidenceBundle;
        expect(Date.parse(exported.generated_at)).not.toBeNaN();
        const { generated_at: _a, ...apiRest } = api;
        const { generated_at: _b, ...cliRest } = exported;
        expect(apiRest, name).toEqual(cliRest);
      }
    });
  });

  describe('errors', () => {
    const invalid: Array<[string, string, string]> = [
      ['limit=0', '/api/v1/runs?limit=0', 'limit'],
      ['limit=abc', '/api/v1/runs?limit=abc', 'limit'],
      ['limit=1001', '/api/v1/runs?limit=1001', 'limit'],
      ['limit=1.5', '/api/v1/runs?limit=1.5', 'limit'],
      // Regression guard (fixed bug in src/api/runs-routes.ts): Ajv coerces 1e400 to Infinity and then skips integer/minimum/maximum,
      // so limit=1e400 lists 1000 runs (200) and revision=1e400 is a 404 "has no revision Infinity".
      ['limit=1e400', '/api/v1/runs?limit=1e400', 'limit'],
      ['status=bogus', '/api/v1/runs?status=bogus', 'status'],
      ['finding=bogus', '/api/v1/runs?finding=bogus', 'finding'],
      ['since=notadate', '/api/v1/runs?since=notadate', 'since'],
      ['until=yesterday', '/api/v1/runs?until=yesterday', 'until'],
      ['workflow= (empty)', '/api/v1/runs?workflow=', 'workflow'],
      // Regression guard (fixed bug in src/http/http-server.ts error handler): "querystring must NOT have additional properties"
      // names no parameter for the three unknown-parameter cases.
      ['an unknown parameter', '/api/v1/runs?colour=blue', 'colour'],
      ['an unknown parameter beside valid ones', '/api/v1/runs?status=compliant&sort=asc', 'sort'],
      ['cursor=garbage', '/api/v1/runs?cursor=garbage', 'cursor'],
      ['a cursor of the right encoding but wrong content', `/api/v1/runs?cursor=${Buffer.from('{"a":1}').toString('base64url')}`, 'cursor'],
      // Regression guard (fixed bug in src/store/run-queries.ts, position bound as int64 unchecked): it answered 500 INTERNAL.
      [
        'a cursor whose position is out of range',
        `/api/v1/runs?cursor=${Buffer.from(JSON.stringify(['99999999999999999999', 'x'])).toString('base64url')}`,
        'cursor',
      ],
      ['revision=0', '/api/v1/runs/RUN?revision=0', 'revision'],
      ['revision=1e400', '/api/v1/runs/RUN?revision=1e400', 'revision'],
      ['revision=abc', '/api/v1/runs/RUN?revision=abc', 'revision'],
      ['an unknown parameter on a run', '/api/v1/runs/RUN?rev=1', 'rev'],
    ];
    it.each(invalid)('answers 400 INVALID_QUERY naming the parameter for %s', async (_label, path, parameter) => {
      const { status, body } = await get<ApiErrorBody>(path.replace('RUN', mix.runs.a1.runId));
      expect(status).toBe(400);
      expect(body.error.code).toBe('INVALID_QUERY');
      expect(body.error.message).toEqual(expect.any(String));
      expect(body.error.message).toContain(parameter);
    });

    // Regression guard (fixed bug in src/api/runs-routes.ts + src/store/run-queries.ts): it answered 500 INTERNAL. A date outside
    // 1677-09-21..2262-04-11 overflows the int64 nanoseconds bound in SQLite; a leap second (which
    // Ajv's date-time format accepts, as RFC 3339 does) is NaN to Date.parse and BigInt(NaN) throws.
    const wellFormedDates: Array<[string, string]> = [
      ['since before 1677 (0001-01-01T00:00:00Z)', 'since=0001-01-01T00:00:00Z'],
      ['until after 2262 (9999-12-31T23:59:59Z)', 'until=9999-12-31T23:59:59Z'],
      ['since on a leap second (2016-12-31T23:59:60Z)', 'since=2016-12-31T23:59:60Z'],
    ];
    it.each(wellFormedDates)('answers a valid RFC 3339 %s with every run, not 500 INTERNAL', async (_label, query) => {
      const { status, body } = await get<ListPage | ApiErrorBody>(`/api/v1/runs?${query}`);
      expect({ status, body }).toMatchObject({ status: 200, body: { next_cursor: null } });
      expect((body as ListPage).runs.map((r) => r.run_id)).toEqual(mix.newestFirst);
    });

    it('answers 404 RUN_NOT_FOUND for an unknown run, its evidence, and a revision it does not have', async () => {
      const [unknown, evidence, revision] = await Promise.all([
        get<ApiErrorBody>('/api/v1/runs/no-such-run'),
        get<ApiErrorBody>('/api/v1/runs/no-such-run/evidence'),
        get<ApiErrorBody>(`/api/v1/runs/${mix.runs.a1.runId}?revision=9`),
      ]);
      expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND', message: 'run no-such-run not found' } } });
      expect(evidence).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND', message: 'run no-such-run not found' } } });
      expect(revision).toMatchObject({
        status: 404,
        body: { error: { code: 'RUN_NOT_FOUND', message: `run ${mix.runs.a1.runId} has no revision 9` } },
      });
    });

    it('answers 404 ROUTE_NOT_FOUND for an unknown path', async () => {
      for (const path of ['/api/v1/nothing', '/api/v2/runs', `/api/v1/runs/${mix.runs.a1.runId}/spans`]) {
        const { status, body } = await get<ApiErrorBody>(`${path}?x=1`);
        expect(status, path).toBe(404);
        expect(body, path).toEqual({ error: { code: 'ROUTE_NOT_FOUND', message: `no route for GET ${path}` } });
      }
    });
  });
});

/** RFC 3339 for `ms` written in a fixed UTC offset (e.g. 120 → +02:00), the same instant. */
function offsetIso(ms: number, offsetMinutes: number): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().replace('Z', '');
  const sign = offsetMinutes >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
