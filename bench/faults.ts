/**
 * `npm run test:faults`: runledger's promises as measured figures (127.0.0.1 only, bounded in time).
 *
 *   crash      N cycles of concurrent exporters, SIGKILL at a random moment, restart: acknowledged spans
 *              that are missing (must be 0), restarts that failed, and `verify` at the end (restarts are
 *              its declared gaps, nothing else may be reported).
 *   fuzz       malformed and mutated Export bodies on every transport, valid requests in between: every
 *              request answered with a status, the process up, RSS before and after, the valid spans stored.
 *   disk-full  the store on a small tmpfs (root only): UNAVAILABLE with RetryInfo while full, the process
 *              up, and after space returns no acknowledged span lost and an intact chain.
 *   overload   many concurrent large requests: UNAVAILABLE with RetryInfo beyond the limit, peak RSS.
 *
 * Options: --cycles 20 --exporters 4 --fuzz 20000 --overload 64 --overload-limit 16 --sections
 * crash,fuzz,disk-full,overload --budget-s 1800 --json. Prints the figures; exits 1 when a promise failed.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { runVerify } from '../src/cli/verify.js';
import { loadConfig } from '../src/config/load.js';
import { gzipBombSource, malformed, MALFORMED_KINDS, validRequest, type MalformedKind } from './fault-bodies.js';
import { TRANSPORTS, answerLabel, type Answer, type ExportClient, type Transport } from './fault-transports.js';
import { giveUpAfter, pollPeakRss, procStatus, runBenchmark, startServer, track, type RunningServer } from './server-process.js';

const log = (message: string) => process.stderr.write(`[faults] ${message}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const SECTIONS = ['crash', 'fuzz', 'disk-full', 'overload'] as const;
type Section = (typeof SECTIONS)[number];

interface VerifyFigures {
  readonly intact: boolean;
  readonly declared_gaps: number;
  /** Problems other than declared gaps, by kind. */
  readonly problems: Record<string, number>;
}

/** A store in a directory of its own; absolute key paths so `verify` finds them from here. */
function serve(dir: string, overrides: ReadonlyArray<readonly [string, unknown]> = []): Promise<RunningServer> {
  return startServer({
    dir,
    synchronous: 'full',
    startTimeoutMs: 120_000,
    onSpawn: track,
    overrides: [
      ['runs.settle_ms', 200],
      ['receiver.otlp_grpc.max_recv_msg_size_mib', 4],
      ['receiver.otlp_http.max_recv_msg_size_mib', 4],
      ...overrides,
    ],
  });
}

async function kill(server: RunningServer): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await exited;
}

function storedSpanIds(dir: string): Set<string> {
  const db = new BetterSqlite3(join(dir, 'runledger.db'), { readonly: true, fileMustExist: true });
  try {
    return new Set(db.prepare('SELECT span_id FROM spans').pluck().all() as string[]);
  } finally {
    db.close();
  }
}

function verifyStore(dir: string): VerifyFigures {
  const report = runVerify(loadConfig(join(dir, 'runledger.yaml')), { publicKeys: [] });
  const problems: Record<string, number> = {};
  for (const p of report.problems) if (p.kind !== 'declared_gap') problems[p.kind] = (problems[p.kind] ?? 0) + 1;
  return { intact: report.intact, declared_gaps: report.problems.length - Object.values(problems).reduce((a, b) => a + b, 0), problems };
}

const count = (tally: Record<string, number>, key: string) => (tally[key] = (tally[key] ?? 0) + 1);
const unanswered = (a: Answer) => a.status === 'TIMEOUT' || a.status === 'CONNECTION_LOST' || a.status === 'NO_STATUS';

// ---------------------------------------------------------------- crash durability

async function crash(transport: Transport, cycles: number, exporters: number) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-faults-crash-'));
  const acked = new Set<string>();
  const answers: Record<string, number> = {};
  let restartsFailed = 0;
  for (let cycle = 0; cycle < cycles; cycle++) {
    let server: RunningServer;
    try {
      server = await serve(dir);
    } catch (err) {
      restartsFailed++;
      log(`cycle ${cycle}: restart failed: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    let stopping = false;
    let sent = 0;
    const clients: ExportClient[] = Array.from({ length: exporters }, () => transport.connect(server));
    const loops = clients.map(async (client, i) => {
      while (!stopping) {
        const request = validRequest(`crash-${cycle}-${i}-${sent++}`, 20);
        const answer = await client.send(request.body);
        count(answers, answer.status);
        if (answer.status === 'OK') for (const id of request.spanIds) acked.add(id);
      }
    });
    await sleep(randomInt(200, 2_500)); // a random moment: mid-request, mid-commit, mid-judging
    stopping = true;
    await kill(server);
    await Promise.all(loops);
    for (const c of clients) c.close();
  }
  // One last start resumes the open runs and judges them; SIGTERM closes the store cleanly.
  let finalStart = true;
  try {
    const server = await serve(dir);
    await sleep(2_000);
    await server.stop();
  } catch (err) {
    finalStart = false;
    log(`final restart failed: ${(err as Error).message.split('\n')[0]}`);
  }
  const stored = storedSpanIds(dir);
  const missing = [...acked].filter((id) => !stored.has(id)).length;
  const verify = verifyStore(dir);
  rmSync(dir, { recursive: true, force: true });
  return {
    transport: transport.name,
    cycles,
    exporters,
    acked_spans: acked.size,
    missing,
    restarts_failed: restartsFailed + (finalStart ? 0 : 1),
    answers,
    verify,
    ok: missing === 0 && restartsFailed === 0 && finalStart && verify.intact && verify.declared_gaps === cycles,
  };
}

// ---------------------------------------------------------------- fuzz

async function fuzz(transport: Transport, requests: number) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-faults-fuzz-'));
  const server = await serve(dir);
  const gzipBomb = transport.compress(gzipBombSource(64));
  const byKind: Record<string, Record<string, number>> = {};
  const validAcked: string[] = [];
  let validRefused = 0;
  let unansweredCount = 0;
  const rssBeforeKb = procStatus(server.pid).rssKb;
  const peak = pollPeakRss(server.pid);
  let next = 0;
  const worker = async () => {
    const client = transport.connect(server);
    while (next < requests && server.child.exitCode === null) {
      const n = next++;
      const kind: MalformedKind = MALFORMED_KINDS[n % MALFORMED_KINDS.length]!;
      const { body, gzip } = malformed(kind, gzipBomb);
      const answer = await client.send(body, { gzip });
      count((byKind[kind] ??= {}), answerLabel(answer));
      if (unanswered(answer)) unansweredCount++;
      if (n % 50 === 49) {
        // Valid spans between the bad ones: what bad input must never cost.
        const valid = validRequest(`fuzz-valid-${n}`, 5);
        const answer = await client.send(valid.body);
        if (answer.status === 'OK') validAcked.push(...valid.spanIds);
        else validRefused++;
      }
    }
    client.close();
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  peak.stop();
  const alive = server.child.exitCode === null && server.child.signalCode === null;
  const rssAfterKb = procStatus(server.pid).rssKb;
  await server.stop();
  const stored = storedSpanIds(dir);
  const validMissing = validAcked.filter((id) => !stored.has(id)).length;
  rmSync(dir, { recursive: true, force: true });
  const byStatus: Record<string, number> = {};
  for (const tally of Object.values(byKind)) for (const [status, n] of Object.entries(tally)) byStatus[status] = (byStatus[status] ?? 0) + n;
  return {
    transport: transport.name,
    requests: next,
    by_status: byStatus,
    by_kind: byKind,
    unanswered: unansweredCount,
    alive,
    rss_before_mib: rssBeforeKb / 1024,
    rss_after_mib: rssAfterKb / 1024,
    rss_peak_mib: peak.peakKb() / 1024,
    valid_acked_spans: validAcked.length,
    valid_refused_requests: validRefused,
    valid_missing: validMissing,
    ok: alive && unansweredCount === 0 && validMissing === 0 && validRefused === 0 && byStatus.OK !== undefined,
  };
}

// ---------------------------------------------------------------- disk full

async function diskFull(transport: Transport) {
  if (process.getuid?.() !== 0) return { skipped: 'mounting a small tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), 'runledger-faults-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { skipped: `mount failed: ${(err as Error).message.split('\n')[0]}` };
  }
  try {
    const server = await serve(dir);
    const client = transport.connect(server);
    const acked: string[] = [];
    const whileFull: Record<string, number> = {};
    let okBeforeFull = 0;
    let refusedWithoutRetryInfo = 0;
    let full = false;
    let consecutiveRefusals = 0;
    for (let i = 0; i < 2_000 && consecutiveRefusals < 20; i++) {
      const request = validRequest(`full-${i}`, 20, 10_000);
      const answer = await client.send(request.body);
      if (answer.status === 'OK') {
        acked.push(...request.spanIds);
        if (full) count(whileFull, 'OK');
        else okBeforeFull++;
        consecutiveRefusals = 0;
      } else {
        full = true;
        consecutiveRefusals++;
        count(whileFull, answer.status);
        if (answer.status === 'UNAVAILABLE' && !answer.retryInfo) refusedWithoutRetryInfo++;
      }
    }
    const aliveWhileFull = server.child.exitCode === null;
    execFileSync('mount', ['-o', 'remount,size=512m', dir], { stdio: 'pipe' });
    let recoveredAfter: number | null = null;
    for (let i = 0; i < 60 && recoveredAfter === null && server.child.exitCode === null; i++) {
      const request = validRequest(`full-after-${i}`, 20, 10_000);
      const answer = await client.send(request.body);
      if (answer.status === 'OK') {
        acked.push(...request.spanIds);
        recoveredAfter = i + 1;
      } else await sleep(500);
    }
    client.close();
    const aliveAfter = server.child.exitCode === null;
    await server.stop();
    const stored = storedSpanIds(dir);
    const missing = acked.filter((id) => !stored.has(id)).length;
    const verify = verifyStore(dir);
    return {
      transport: transport.name,
      filesystem: 'tmpfs 16 MiB, grown to 512 MiB',
      ok_before_full: okBeforeFull,
      reached_full: full,
      answers_while_full: whileFull,
      unavailable_without_retry_info: refusedWithoutRetryInfo,
      alive_while_full: aliveWhileFull,
      recovered_after_requests: recoveredAfter,
      alive_after: aliveAfter,
      acked_spans: acked.length,
      missing,
      verify,
      ok:
        full &&
        aliveWhileFull &&
        aliveAfter &&
        recoveredAfter !== null &&
        missing === 0 &&
        verify.intact &&
        refusedWithoutRetryInfo === 0 &&
        Object.keys(whileFull).every((s) => s === 'OK' || s === 'UNAVAILABLE'),
    };
  } finally {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    } catch (err) {
      log(`umount ${dir} failed: ${(err as Error).message.split('\n')[0]}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- overload

/**
 * The longest the overload section holds the store's write lock: under the 5 s busy timeout, so no
 * write fails. It lets go sooner once every request beyond the limit was refused.
 */
const STORE_HELD_MS = 4_000;

async function overload(transport: Transport, concurrent: number, limit: number) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-faults-overload-'));
  const server = await serve(dir, [[`receiver.${transport.receiver}.max_concurrent_requests`, limit]]);
  // ~3 MiB each: large, yet under the 4 MiB receive limit.
  const requests = Array.from({ length: concurrent }, (_, i) => validRequest(`overload-${i}`, 100, 30_000));
  const clients = requests.map(() => transport.connect(server));
  const rssBeforeKb = procStatus(server.pid).rssKb;
  const peak = pollPeakRss(server.pid);
  // The store is held busy, as a slow disk would: commits wait, so the burst piles up in flight beyond
  // the limit however fast this machine answers and however slowly a busy one sends the burst.
  const storeHolder = new BetterSqlite3(server.dbPath);
  storeHolder.exec('BEGIN IMMEDIATE');
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    const timer = setTimeout(() => release(), STORE_HELD_MS);
    release = () => {
      clearTimeout(timer);
      if (storeHolder.open) {
        storeHolder.exec('COMMIT');
        storeHolder.close();
      }
      resolve();
    };
  });
  let refusals = 0;
  const answers = await Promise.all(
    requests.map((r, i) =>
      clients[i]!.send(r.body).then((answer) => {
        if (answer.status !== 'OK' && ++refusals === concurrent - limit) release();
        return answer;
      }),
    ),
  );
  await released;
  peak.stop();
  for (const c of clients) c.close();
  const alive = server.child.exitCode === null;
  await server.stop();
  const stored = storedSpanIds(dir);
  rmSync(dir, { recursive: true, force: true });
  const byStatus: Record<string, number> = {};
  for (const a of answers) count(byStatus, a.status);
  const refused = answers.filter((a) => a.status !== 'OK');
  const missing = requests.filter((r, i) => answers[i]!.status === 'OK').flatMap((r) => r.spanIds).filter((id) => !stored.has(id)).length;
  return {
    transport: transport.name,
    concurrent,
    limit,
    request_mib: requests[0]!.body.length / 1024 / 1024,
    by_status: byStatus,
    refused_with_retry_info: refused.filter((a) => a.status === 'UNAVAILABLE' && a.retryInfo).length,
    rss_before_mib: rssBeforeKb / 1024,
    rss_peak_mib: peak.peakKb() / 1024,
    alive,
    missing,
    ok: alive && missing === 0 && refused.length > 0 && refused.every((a) => a.status === 'UNAVAILABLE' && a.retryInfo),
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '20' },
      exporters: { type: 'string', default: '4' },
      fuzz: { type: 'string', default: '20000' },
      overload: { type: 'string', default: '64' },
      'overload-limit': { type: 'string', default: '16' },
      sections: { type: 'string', default: SECTIONS.join(',') },
      'budget-s': { type: 'string', default: '1800' },
      json: { type: 'boolean', default: false },
    },
  });
  const sections = values.sections.split(',').map((s) => s.trim()) as Section[];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s} (${SECTIONS.join(', ')})`);
  giveUpAfter(Number(values['budget-s']) * 1000, log);
  const results: Record<string, unknown[]> = {};
  let allOk = true;
  const record = async (section: Section, run: () => Promise<{ ok?: boolean; skipped?: string }>) => {
    const sectionStarted = Date.now();
    const result = { ...(await run()), seconds: Math.round((Date.now() - sectionStarted) / 1000) };
    (results[section] ??= []).push(result);
    if (result.ok === false) allOk = false;
    log(`${section}: ${JSON.stringify(result)}`);
  };
  const started = Date.now();
  for (const transport of TRANSPORTS) {
    if (sections.includes('crash')) await record('crash', () => crash(transport, Number(values.cycles), Number(values.exporters)));
    if (sections.includes('fuzz')) await record('fuzz', () => fuzz(transport, Number(values.fuzz)));
    if (sections.includes('disk-full')) await record('disk-full', () => diskFull(transport));
    if (sections.includes('overload')) await record('overload', () => overload(transport, Number(values.overload), Number(values['overload-limit'])));
  }
  const summary = { seconds: Math.round((Date.now() - started) / 1000), ok: allOk, ...results };
  process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : `${JSON.stringify(summary, null, 2)}\n`);
  if (!allOk) process.exitCode = 1;
}

await runBenchmark(main, log);
