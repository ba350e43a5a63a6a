import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsSkipped, launchBrowser, SCREENSHOTS, type Browser } from '../support/browser.js';
import { checkBundleOffline, type EvidenceBundle } from '../support/evidence-check.js';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { sendRunMix, type RunMix } from '../support/run-mix.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { waitForRuns } from '../support/runs-cli.js';
import { change, decision, emitRun, newRunId, StepClock, workflowRoot, type EmittedRun } from '../support/workflows.js';

/**
 * The web console in headless Chromium against a real `runledger serve` holding runs sent through the
 * OTel SDK: what an auditor would check on each page, with screenshots in test-results/console/.
 */

const TOKEN = 'console-e2e-token-0123456789abcdef';
const ORIGIN = 'runledger-e2e-console';
const XSS_TARGET = '<script>window.__injected = true</script>k8s:mailer/smtp';

describe.skipIf(browserTestsSkipped())('web console in Chromium', () => {
  let dir: string;
  let runledger: RunledgerProcess;
  let sender: OtelSender;
  let browser: Browser;
  let page: Page;
  let mix: RunMix;
  /** A JIT grant with no policy decision at all: ungated_change on the grant span (a violation). */
  let ungated: { runId: string; emitted: EmittedRun };
  /** A rotation whose distribute was retried and whose revoke failed: partial. */
  let partial: { runId: string; emitted: EmittedRun };

  const config = () => ({
    runs: { settle_ms: 200 },
    http: { auth: { bearer_token_file: join(dir, 'http-token') } },
    integrity: { signing_key_file: join(dir, 'signing-key.pem'), origin: ORIGIN, checkpoint_interval_seconds: 1 },
    redaction: { hmac_key_file: join(dir, 'redaction-hmac.key') },
  });
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const rowsOf = (p: Page) => p.locator('table.runs tbody tr');
  const runIdsShown = async (p: Page) => p.locator('table.runs tbody tr td.id a').allTextContents();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-console-'));
    writeFileSync(join(dir, 'http-token'), `${TOKEN}\n`);
    runledger = await startRunledger({ dir, config: config() });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-console' });
    mix = await sendRunMix(sender, runledger.dbPath, 'console');
    const clock = new StepClock(Date.now() - 60_000);
    const ungatedId = newRunId('console-ungated');
    ungated = {
      runId: ungatedId,
      emitted: emitRun(
        sender.tracer,
        workflowRoot(
          { runId: ungatedId, workflow: mix.workflowB, kind: 'jit_access', result: 'success', triggerKind: 'api', actorId: 'system:serviceaccount:access:jit-broker', requesterId: 'alice', grantExpiresAt: new Date(Date.now() + 3_600_000).toISOString() },
          [change('grant', 'role/prod-db-admin:alice')],
        ),
        { clock },
      ),
    };
    const partialId = newRunId('console-partial');
    partial = {
      runId: partialId,
      emitted: emitRun(
        sender.tracer,
        workflowRoot(
          { runId: partialId, workflow: mix.workflowA, kind: 'secret_rotation', result: 'success', triggerKind: 'schedule', actorId: 'system:serviceaccount:secrets:rotator' },
          [
            decision('rotation.window', 'allow'),
            change('create', 'vault:kv/smtp#v6'),
            change('distribute', XSS_TARGET, { name: 'distribute attempt 1', errorType: 'connector_timeout' }),
            change('distribute', XSS_TARGET, { name: 'distribute attempt 2' }),
            change('verify', 'svc:mailer'),
            change('revoke', 'vault:kv/smtp#v5', { errorType: 'permission_denied' }),
          ],
        ),
        { clock },
      ),
    };
    await sender.flush();
    await waitForRuns(runledger.dbPath, [ungatedId, partialId]);
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await sender?.shutdown();
    await runledger?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('asks for the API token before showing anything, refuses a wrong one and signs in with the right one', async () => {
    await page.goto(`${runledger.httpUrl}/?status=violation`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await expect.poll(() => page.locator('table.runs').count()).toBe(0);
    await page.getByLabel('API bearer token').fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not accepted');
    await shot('sign-in');
    await page.getByLabel('API bearer token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Back where the auditor was going, filters included.
    await page.waitForURL((url) => url.pathname === '/' && url.searchParams.get('status') === 'violation');
    const cookies = await browser.context.cookies();
    expect(cookies.map((c) => c.value).join(' ')).not.toContain(TOKEN);
    expect(cookies.find((c) => c.name === 'runledger_console')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('lists the runs newest first with counts by status, the compliance ratio, and violations marked in words', async () => {
    await page.goto(`${runledger.httpUrl}/`);
    const all = [...mix.newestFirst, ungated.runId, partial.runId];
    expect((await runIdsShown(page)).sort()).toEqual([...all].sort());
    // The mix is newest first among itself (the two extra runs started a minute ago, after it).
    expect((await runIdsShown(page)).filter((id) => mix.newestFirst.includes(id))).toEqual(mix.newestFirst);
    // a1 a2 a3 compliant; b1 b2 and the partial rotation incomplete; v and the ungated grant violations.
    const count = (status: string) => page.locator(`a.count.status-${status} .count-n`).textContent();
    expect([await count('compliant'), await count('incomplete'), await count('violation')]).toEqual(['3', '3', '2']);
    expect(await page.locator('.ratio').textContent()).toContain('37.5% compliant');
    const violationRows = rowsOf(page).filter({ has: page.locator('.badge', { hasText: 'violation' }) });
    expect(await violationRows.count()).toBe(2);
    for (const row of await violationRows.all()) expect(await row.getAttribute('class')).toContain('status-violation');
    expect(await page.locator('table.runs thead th').allTextContents()).toContain('Findings');
    await shot('runs');
  });

  it('is usable from the keyboard: a skip link first, then the filters, then each run', async () => {
    await page.goto(`${runledger.httpUrl}/`);
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').textContent()).toBe('Skip to content');
    const reached: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const focused = page.locator(':focus');
      reached.push((await focused.getAttribute('id')) ?? (await focused.getAttribute('href')) ?? '');
      if (reached.at(-1)!.startsWith('/runs/')) break;
    }
    expect(reached).toEqual(expect.arrayContaining(['f-status', 'f-workflow', 'f-since']));
    const runLink = reached.at(-1)!;
    expect(runLink).toMatch(/^\/runs\//);
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.pathname === runLink);
  });

  it('narrows the table with the filters and keeps them in the URL', async () => {
    await page.goto(`${runledger.httpUrl}/`);
    await page.getByLabel('Status').selectOption('violation');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL((url) => url.searchParams.get('status') === 'violation');
    expect((await runIdsShown(page)).sort()).toEqual([mix.runs.v.runId, ungated.runId].sort());

    await page.getByLabel('Workflow').fill(mix.workflowB);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL((url) => url.searchParams.get('workflow') === mix.workflowB);
    expect(await runIdsShown(page)).toEqual([ungated.runId]);
    // Counts follow every filter but status, so the other statuses stay one click away.
    const count = (status: string) => page.locator(`a.count.status-${status} .count-n`).textContent();
    expect([await count('compliant'), await count('incomplete'), await count('violation')]).toEqual(['0', '2', '1']);
    // The filters survive a reload from the URL alone: the view can be shared.
    const shared = page.url();
    await page.goto(shared);
    expect(await runIdsShown(page)).toEqual([ungated.runId]);
    expect(await page.getByLabel('Workflow').inputValue()).toBe(mix.workflowB);
    await shot('runs-filtered');

    await page.goto(`${runledger.httpUrl}/?finding=replayed_trigger`);
    expect(await runIdsShown(page)).toEqual([mix.runs.v.runId]);
    await page.goto(`${runledger.httpUrl}/?since=not-a-time`);
    expect(await page.getByRole('alert').textContent()).toContain('since');
    expect(await rowsOf(page).count()).toBe(0);
  });

  it('pages older runs by cursor, keeping the filters, until the last page', async () => {
    // 52 runs of one workflow: one page of 50 and a second of 2.
    const workflow = `${mix.workflowA}-paged`;
    const clock = new StepClock(Date.now() - 30 * 60_000);
    const ids = Array.from({ length: 52 }, (_, i) => newRunId(`console-page-${i}`));
    for (const runId of ids) emitRun(sender.tracer, workflowRoot({ runId, workflow, kind: 'access_review', actorId: 'reviewer' }, []), { clock });
    await sender.flush();
    await waitForRuns(runledger.dbPath, ids);

    await page.goto(`${runledger.httpUrl}/?workflow=${encodeURIComponent(workflow)}`);
    const first = await runIdsShown(page);
    expect(first).toHaveLength(50);
    await page.getByRole('link', { name: /Older runs/ }).click();
    await page.waitForURL((url) => url.searchParams.has('cursor') && url.searchParams.get('workflow') === workflow);
    const second = await runIdsShown(page);
    expect(second).toHaveLength(2);
    expect(await page.getByRole('link', { name: /Older runs/ }).count()).toBe(0);
    // Every run once, newest first across both pages (each started 2 ms after the one before).
    expect([...first, ...second]).toEqual([...ids].reverse());
    await page.getByRole('link', { name: /Newest/ }).click();
    expect(await runIdsShown(page)).toEqual(first);

    await page.goto(`${runledger.httpUrl}/?cursor=bogus`);
    expect(await page.getByRole('alert').textContent()).toContain('not valid');
  });

  it('shows a violation: its finding, the span it points at, the checklist and the resolved actor', async () => {
    await page.goto(`${runledger.httpUrl}/`);
    await page.getByRole('link', { name: ungated.runId }).click();
    await page.waitForURL((url) => url.pathname === `/runs/${ungated.runId}`);
    const finding = page.locator('table.findings tbody tr', { has: page.locator('code', { hasText: 'ungated_change' }) });
    expect(await finding.count()).toBe(1);
    expect(await finding.textContent()).toContain('grant of role/prod-db-admin:alice succeeded without an allow decision');
    expect(await finding.textContent()).toContain('NHI5');
    // Its span: follow the link to the timeline row of the grant span.
    const grantSpan = ungated.emitted.spanId('grant role/prod-db-admin:alice');
    await finding.getByRole('link').click();
    await page.waitForURL((url) => url.hash === `#span-${grantSpan}`);
    const row = page.locator(`tr#span-${grantSpan}`);
    expect(await row.isVisible()).toBe(true);
    expect(await row.locator('td').nth(1).textContent()).toBe('change');
    // The checklist: the allow decision is missing, the grant is present with its span.
    const item = (requirement: string) => page.locator('table.checklist tbody tr', { has: page.locator('code', { hasText: new RegExp(`^${requirement}$`) }) });
    expect(await item('an allow decision').locator('.state').textContent()).toBe('✕ missing');
    expect(await item('grant, succeeded').locator('.state').textContent()).toBe('✓ present');
    expect(await item('grant, succeeded').getByRole('link').getAttribute('href')).toBe(`#span-${grantSpan}`);
    expect(await item('requester.id').textContent()).toContain('alice');
    expect(await page.locator('.facts').first().textContent()).toContain('system:serviceaccount:access:jit-broker');
    await shot('run-violation');
  });

  it('marks failed attempts in the timeline and a failed required change in the checklist; shows stored values as text', async () => {
    await page.goto(`${runledger.httpUrl}/runs/${encodeURIComponent(partial.runId)}`);
    const steps = await page.locator('table.waterfall tbody tr td.id').allTextContents();
    expect(steps).toEqual(partial.emitted.spans.map((s) => s.spanId));
    const attempt1 = page.locator(`tr#span-${partial.emitted.spanId('distribute attempt 1')}`);
    expect(await attempt1.textContent()).toContain('✕ failed attempt');
    expect(await page.locator(`tr#span-${partial.emitted.spanId('distribute attempt 2')}`).textContent()).not.toContain('failed');
    const revoke = page.locator('table.checklist tbody tr', { has: page.locator('code', { hasText: /^revoke, succeeded$/ }) });
    expect(await revoke.locator('.state').textContent()).toBe('✕ failed');
    expect(await revoke.getByRole('link').getAttribute('href')).toBe(`#span-${partial.emitted.spanId('revoke vault:kv/smtp#v5')}`);
    const distribute = page.locator('table.checklist tbody tr', { has: page.locator('code', { hasText: /^distribute, succeeded$/ }) });
    expect(await distribute.locator('.state').textContent()).toBe('✓ present');
    // The attribute value `<script>…` is shown as text and never runs.
    expect(await distribute.textContent()).toContain(XSS_TARGET);
    expect(await page.evaluate(() => (globalThis as { __injected?: boolean }).__injected)).toBeUndefined();
    expect(await page.locator('script').count()).toBe(0);
    await shot('run-partial');
  });

  it('shows revisions with what changed, and the integrity proof of each', async () => {
    // A late audit span amends a1: revision 2 adds a span.
    const a1 = mix.runs.a1;
    emitRun(sender.tracer, { name: 'write audit record' }, { clock: a1.clock, parent: a1.emitted.rootContext });
    await sender.flush();
    await waitForRuns(runledger.dbPath, [a1.runId], { minRevision: 2 });
    await page.goto(`${runledger.httpUrl}/runs/${encodeURIComponent(a1.runId)}`);
    const rev2 = page.locator('table.revisions tbody tr').nth(1);
    expect(await rev2.locator('td').first().textContent()).toBe('2');
    expect(await rev2.textContent()).toContain('1 span added: "write audit record"');
    expect(await rev2.textContent()).toContain('span_count: 6 → 7');
    const proofs = page.locator('table.proof tbody tr');
    expect(await proofs.count()).toBe(2);
    for (const proof of await proofs.all()) {
      expect(await proof.textContent()).toContain('matches the chained digest');
      expect(await proof.locator('td.hash').textContent()).toMatch(/^[0-9a-f]{64}$/);
    }
    // The latest checkpoint comes within a second; once it does it covers both revisions.
    await expect.poll(async () => {
      await page.reload();
      return page.locator('table.proof tbody tr', { hasText: 'covered' }).count();
    }, { timeout: 15_000 }).toBe(2);
    expect(await page.locator('section[aria-labelledby="h-integrity"]').textContent()).toContain('valid Ed25519 signature');
    await page.goto(`${runledger.httpUrl}/runs/${encodeURIComponent(a1.runId)}?revision=1`);
    expect(await page.locator('.head-line').textContent()).toContain('latest is 2');
    await shot('run-revisions');
  });

  it('downloads the evidence bundle, which verifies offline against the signed checkpoint', async () => {
    await page.goto(`${runledger.httpUrl}/runs/${encodeURIComponent(ungated.runId)}`);
    // Wait for a checkpoint that covers the run's revision (written every second while records are added).
    await expect.poll(async () => {
      await page.reload();
      return page.locator('table.proof tbody tr', { hasText: 'covered' }).count();
    }, { timeout: 15_000 }).toBe(1);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download evidence bundle (JSON)' }).click()]);
    expect(download.suggestedFilename()).toBe(`runledger-evidence-${ungated.runId}.json`);
    const bundle = JSON.parse(readFileSync(await download.path(), 'utf8')) as EvidenceBundle;
    expect(bundle.run.run_id).toBe(ungated.runId);
    expect(bundle.spans.map((s) => s.span_id).sort()).toEqual(ungated.emitted.spans.map((s) => s.spanId).sort());
    const publicKeyPem = readFileSync(join(dir, 'signing-key.pem.pub'), 'utf8');
    expect(checkBundleOffline(bundle, { origin: ORIGIN, publicKeyPem })).toEqual([]);
  });

  it('verifies the chain on demand and groups problems by kind', async () => {
    await page.goto(`${runledger.httpUrl}/integrity`);
    expect(await page.locator('.verdict').count()).toBe(0);
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.waitForURL((url) => url.searchParams.get('verify') === '1');
    expect(await page.locator('.verdict h2').textContent()).toBe('✓ Intact');
    const records = Number(await page.locator('.verdict dd').first().textContent());
    expect(records).toBeGreaterThanOrEqual(10); // chain_start + 9 revisions
    await shot('integrity-intact');

    // Stop, alter one stored revision and start again: the restart is a declared gap, the edit a problem.
    // The exporter's open gRPC connection would hold up the receiver's graceful stop.
    await sender.shutdown();
    await runledger.stop();
    await browser.context.clearCookies();
    const db = new BetterSqlite3(runledger.dbPath);
    db.prepare("UPDATE run_revisions SET record = json_set(record, '$.status', 'compliant') WHERE run_key = ?").run(ungated.runId);
    db.close();
    runledger = await startRunledger({ dir, config: config() });
    await page.setExtraHTTPHeaders({ authorization: `Bearer ${TOKEN}` });
    await page.goto(`${runledger.httpUrl}/integrity?verify=1`);
    expect(await page.locator('.verdict h2').textContent()).toBe('✕ Problems found (1)');
    const kinds = await page.locator('section.problems h3 code').allTextContents();
    expect(kinds).toEqual(['record_altered', 'declared_gap']);
    const altered = page.locator('section.problems.bad tbody tr');
    expect(await altered.textContent()).toContain(`run ${ungated.runId} revision 1 was altered`);
    expect(await altered.getByRole('link').textContent()).toBe(ungated.runId);
    await shot('integrity-problems');
  }, 90_000); // a stop, a restart and two chain walks: slow on a busy machine (nothing here depends on time)
});
