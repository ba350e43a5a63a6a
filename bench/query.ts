/**
 * `npm run bench:query [-- options]`: a printed benchmark (never a test) of GET /api/v1/runs on a large store.
 *
 * Builds (or reuses, see query-store.ts) a store of N evaluated runs, starts the real runledger on it
 * (`node dist/main.js serve`, HTTP and receiver on 127.0.0.1:0), and times GET /api/v1/runs sequentially
 * from this process, per query shape: the time from sending the request to having the whole body.
 * Prints p50/p99/max per shape, the same query timed in-process through listRuns (RunQueries' SQL plus record
 * parsing, without HTTP), the SQL's EXPLAIN QUERY PLAN, and the verdict against the target:
 * "GET /runs with filters answers in under 50 ms at p99 on a store of 1,000,000 runs".
 *
 * The "required" shapes are the ones the target is judged on; the "extra" shapes probe harder cases
 * (deep cursors, filter combinations with few or no matches) and are reported, not judged.
 *
 * Options: --runs N (1000000)  --seed N (1)  --requests N (200 per shape)  --warmup N (10 per shape)
 *          --rounds N (4: the requests of each shape are spread over N rounds through all the shapes)
 *          --inprocess N (50 per shape; 0 skips the in-process timing)  --dir DIR (os tmpdir: the cached store)
 *          --rebuild (build the store even when cached)  --only TEXT (shapes whose name contains TEXT)
 *          --shape-seconds S (30: a shape stops sampling after this long)  --no-plans  --json
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase, type Database } from '../src/store/database.js';
import { listRuns } from '../src/api/run-record.js';
import { RunQueries, type RunFilter } from '../src/store/run-queries.js';
import { giveUpAfter, procCpuSeconds, procStatus, runBenchmark, startServer, systemCpuSeconds, track } from './server-process.js';
import { integer, NOISE_CPU_PERCENT, table } from './report.js';
import { ensureStore, storeBytes, type StoreMeta } from './query-store.js';

/** The issue's target; printed, never asserted. */
const TARGET_P99_MS = 50;
const TARGET_RUNS = 1_000_000;

interface Settings {
  readonly runs: number;
  readonly seed: number;
  readonly requests: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly inprocess: number;
  readonly dir: string;
  readonly rebuild: boolean;
  readonly only: string | undefined;
  readonly shapeSeconds: number;
  readonly plans: boolean;
  readonly json: boolean;
}

const log = (message: string) => process.stderr.write(`[bench:query] ${message}\n`);

function parseSettings(): Settings {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: String(TARGET_RUNS) },
      seed: { type: 'string', default: '1' },
      requests: { type: 'string', default: '200' },
      warmup: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '4' },
      inprocess: { type: 'string', default: '50' },
      dir: { type: 'string', default: tmpdir() },
      rebuild: { type: 'boolean', default: false },
      only: { type: 'string' },
      'shape-seconds': { type: 'string', default: '30' },
      'no-plans': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  return {
    runs: integer('runs', values.runs, 1_000, 20_000_000),
    seed: integer('seed', values.seed, 0, 2 ** 31),
    requests: integer('requests', values.requests, 1, 100_000),
    warmup: integer('warmup', values.warmup, 0, 10_000),
    rounds: integer('rounds', values.rounds, 1, 1_000),
    inprocess: integer('inprocess', values.inprocess, 0, 100_000),
    dir: values.dir,
    rebuild: values.rebuild,
    only: values.only,
    shapeSeconds: integer('shape-seconds', values['shape-seconds'], 1, 3_600),
    plans: !values['no-plans'],
    json: values.json,
  };
}

// ---------------------------------------------------------------- shapes

interface Shape {
  readonly name: string;
  readonly group: 'required' | 'extra';
  /** Query string parameters of the first page. */
  readonly query: Readonly<Record<string, string>>;
  /** When set, each sample follows next_cursor from page 1 to this page; pages 2.. are timed. */
  readonly pages?: number;
  readonly note?: string;
}

const nsToIso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();

/** A cursor at the given position, as RunQueries encodes it (what a client paging that far holds). */
const cursorAt = (startedNs: bigint, runKey: string) => Buffer.from(JSON.stringify([startedNs.toString(), runKey])).toString('base64url');

function shapesFor(meta: StoreMeta): Shape[] {
  const popular = meta.workflows[0]!;
  const rare = meta.workflows.at(-1)!;
  const findings = meta.findings.filter((f) => f.runs > 0);
  const rareFinding = findings.at(-1)!;
  const commonFinding = findings[0]!;
  const firstNs = BigInt(meta.firstStartNs);
  const lastNs = BigInt(meta.lastStartNs);
  const day = 86_400n * 1_000_000_000n;
  const dayStart = lastNs - 30n * day;
  const middle = firstNs + (lastNs - firstNs) / 2n;
  // A kind the popular workflow is not of: the pair matches no run.
  const otherKind = meta.kinds.find((k) => k.name !== popular.kind)!.name;
  // A code only violation runs carry, and a code only non-compliant runs carry.
  const violationOnly = meta.findings.find((f) => f.name === 'ungated_change') ?? findings[0]!;
  const deep = cursorAt(middle, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  const window = { since: nsToIso(dayStart), until: nsToIso(dayStart + day) };
  return [
    { name: 'no filter', group: 'required', query: {} },
    { name: 'status=violation', group: 'required', query: { status: 'violation' } },
    { name: 'status=incomplete & popular workflow', group: 'required', query: { status: 'incomplete', workflow: popular.name } },
    { name: 'rare workflow', group: 'required', query: { workflow: rare.name } },
    { name: `kind=${meta.kinds[1]!.name}`, group: 'required', query: { kind: meta.kinds[1]!.name } },
    { name: 'median actor', group: 'required', query: { actor: meta.medianActor.name } },
    { name: 'top actor', group: 'required', query: { actor: meta.actors[0]!.name } },
    { name: `rare finding (${rareFinding.name})`, group: 'required', query: { finding: rareFinding.name } },
    { name: `common finding (${commonFinding.name}) & incomplete`, group: 'required', query: { finding: commonFinding.name, status: 'incomplete' } },
    { name: 'since/until 1 day', group: 'required', query: window },
    { name: 'cursor pages 2-5 (no filter)', group: 'required', query: {}, pages: 5 },
    { name: 'limit=100', group: 'required', query: { limit: '100' } },
    { name: 'limit=1000', group: 'required', query: { limit: '1000' } },
    // Beyond the brief.
    { name: 'cursor pages 2-5 (common finding)', group: 'extra', query: { finding: commonFinding.name }, pages: 5 },
    { name: 'cursor pages 2-5 (status=incomplete)', group: 'extra', query: { status: 'incomplete' }, pages: 5 },
    { name: 'deep cursor (45 days back), no filter', group: 'extra', query: { cursor: deep }, note: 'where paging the whole history reaches halfway' },
    { name: 'deep cursor, status=incomplete', group: 'extra', query: { status: 'incomplete', cursor: deep } },
    { name: 'deep cursor, common finding', group: 'extra', query: { finding: commonFinding.name, cursor: deep } },
    { name: 'popular workflow & 1 day', group: 'extra', query: { workflow: popular.name, ...window } },
    { name: 'status=violation & 1 day', group: 'extra', query: { status: 'violation', ...window } },
    { name: 'common finding & 1 day', group: 'extra', query: { finding: commonFinding.name, ...window } },
    { name: 'status=violation & kind', group: 'extra', query: { status: 'violation', kind: meta.kinds[1]!.name } },
    { name: 'kind & popular workflow of another kind (empty)', group: 'extra', query: { kind: otherKind, workflow: popular.name } },
    { name: `${violationOnly.name} & incomplete (empty)`, group: 'extra', query: { finding: violationOnly.name, status: 'incomplete' } },
    { name: `common finding & compliant (empty)`, group: 'extra', query: { finding: commonFinding.name, status: 'compliant' } },
    { name: 'limit=1000 & status=violation', group: 'extra', query: { status: 'violation', limit: '1000' } },
  ];
}

function toFilter(query: Readonly<Record<string, string>>): RunFilter {
  const { since, until, limit, ...rest } = query;
  return {
    ...rest,
    ...(since !== undefined ? { since: Date.parse(since) } : {}),
    ...(until !== undefined ? { until: Date.parse(until) } : {}),
    limit: limit === undefined ? 100 : Number(limit),
  };
}

// ---------------------------------------------------------------- server

interface QueryServer {
  readonly pid: number;
  readonly httpPort: number;
  readonly startMs: number;
  peakRssMb(): number;
  stop(): Promise<void>;
}

async function startQueryServer(dbPath: string, dir: string): Promise<QueryServer> {
  const started = performance.now();
  const server = await startServer({ dir, dbPath, synchronous: 'full', onSpawn: track, log, startTimeoutMs: 60_000, stopTimeoutMs: 30_000 });
  return {
    pid: server.pid,
    httpPort: server.httpPort,
    startMs: performance.now() - started,
    peakRssMb: () => procStatus(server.pid).hwmKb / 1024,
    stop: server.stop,
  };
}

// ---------------------------------------------------------------- machine (Linux /proc; NaN elsewhere)

/** CPU seconds used by processes other than the server and this one while `fn` runs, and the wall seconds. */
async function otherCpuDuring<T>(serverPid: number, fn: () => Promise<T>): Promise<{ value: T; otherSeconds: number; seconds: number }> {
  const t0 = performance.now();
  const busy0 = systemCpuSeconds().busy;
  const server0 = procCpuSeconds(serverPid);
  const self0 = procCpuSeconds(process.pid);
  const value = await fn();
  const other = systemCpuSeconds().busy - busy0 - (procCpuSeconds(serverPid) - server0) - (procCpuSeconds(process.pid) - self0);
  return { value, otherSeconds: Math.max(0, other), seconds: (performance.now() - t0) / 1000 };
}

/** How much of the store file is in the OS page cache (util-linux fincore), when that can be told. */
function residentBytes(path: string): number {
  try {
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8', timeout: 30_000 });
    return Number(out.trim());
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- timing

interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
  return { n: sorted.length, p50: rank(0.5), p99: rank(0.99), max: sorted.at(-1) ?? NaN };
}

interface ShapeResult {
  readonly shape: Shape;
  readonly http: Stats;
  readonly inProcess: Stats | null;
  /** Runs on the first timed page, and its body size. */
  readonly rows: number;
  readonly bodyBytes: number;
  readonly errors: number;
  readonly truncated: boolean;
  /** CPU of other processes on the machine while the shape was timed, in % of one core (noise). */
  readonly otherCpuPercent: number;
  readonly sql: string | null;
  readonly plan: string[];
}

interface Page {
  readonly ms: number;
  readonly status: number;
  readonly body: string;
}

async function get(base: string, query: Readonly<Record<string, string>>): Promise<Page> {
  const url = `${base}/api/v1/runs${Object.keys(query).length === 0 ? '' : `?${new URLSearchParams(query).toString()}`}`;
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  return { ms: performance.now() - t0, status: res.status, body };
}

/** One sample: the page (or, for paged shapes, pages 2..N following next_cursor). */
async function sampleHttp(base: string, shape: Shape): Promise<{ times: number[]; rows: number; bytes: number; error?: string }> {
  if (shape.pages === undefined) {
    const page = await get(base, shape.query);
    if (page.status !== 200) return { times: [], rows: 0, bytes: 0, error: `${page.status} ${page.body.slice(0, 300)}` };
    return { times: [page.ms], rows: (JSON.parse(page.body) as { runs: unknown[] }).runs.length, bytes: page.body.length };
  }
  const times: number[] = [];
  let cursor: string | null = null;
  let rows = 0;
  let bytes = 0;
  for (let n = 1; n <= shape.pages; n++) {
    const page = await get(base, cursor === null ? shape.query : { ...shape.query, cursor });
    if (page.status !== 200) return { times, rows, bytes, error: `${page.status} ${page.body.slice(0, 300)}` };
    const parsed = JSON.parse(page.body) as { runs: unknown[]; next_cursor: string | null };
    if (n > 1) {
      times.push(page.ms);
      if (n === 2) {
        rows = parsed.runs.length;
        bytes = page.body.length;
      }
    }
    cursor = parsed.next_cursor;
    if (cursor === null) break;
  }
  return { times, rows, bytes };
}

interface TimedShape {
  readonly times: number[];
  readonly rows: number;
  readonly bytes: number;
  readonly errors: number;
  readonly truncated: boolean;
}

/** `count` sequential samples of one shape, or fewer when the deadline passes. */
async function timeShape(base: string, shape: Shape, count: number, deadline: number): Promise<TimedShape> {
  const times: number[] = [];
  let rows = 0;
  let bytes = 0;
  let errors = 0;
  while (times.length < count) {
    if (performance.now() > deadline) return { times, rows, bytes, errors, truncated: true };
    const s = await sampleHttp(base, shape);
    if (s.error !== undefined) {
      errors++;
      log(`${shape.name}: ${s.error}`);
      if (errors >= 3) break;
      continue;
    }
    if (times.length === 0) {
      rows = s.rows;
      bytes = s.bytes;
    }
    times.push(...s.times);
    if (s.times.length === 0) break; // a paged shape with a single page
  }
  return { times, rows, bytes, errors, truncated: false };
}

/** A Database whose prepared statements remember the SQL and parameters of their last `all`. */
function recording(db: Database): { db: Database; last: () => { sql: string; params: unknown[] } | undefined } {
  let last: { sql: string; params: unknown[] } | undefined;
  const proxy = new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') {
        return (sql: string) => {
          const stmt = target.prepare(sql);
          const wrapped: unknown = new Proxy(stmt, {
            get(s, p) {
              if (p === 'all') {
                return (...params: unknown[]) => {
                  last = { sql, params };
                  return s.all(...params);
                };
              }
              if (p === 'safeIntegers') {
                return (toggle?: boolean) => {
                  s.safeIntegers(toggle);
                  return wrapped;
                };
              }
              const value: unknown = Reflect.get(s, p, s);
              return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(s) : value;
            },
          });
          return wrapped;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: proxy, last: () => last };
}

function explain(db: Database, sql: string, params: unknown[]): string[] {
  const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).safeIntegers(true).all(...params) as Array<{ id: bigint; parent: bigint; detail: string }>;
  const depth = new Map<bigint, number>([[0n, 0]]);
  return rows.map((row) => {
    const d = (depth.get(row.parent) ?? 0) + 1;
    depth.set(row.id, d);
    return `${'  '.repeat(d)}${row.detail}`;
  });
}

/** Times the shape in-process through listRuns over RunQueries (no HTTP), and captures its SQL and plan. */
function inProcess(queries: RunQueries, capture: () => { sql: string; params: unknown[] } | undefined, shape: Shape, iterations: number, deadline: number) {
  const filter = toFilter(shape.query);
  const times: number[] = [];
  let firstPageSql: { sql: string; params: unknown[] } | undefined;
  for (let i = 0; i < iterations && performance.now() < deadline; i++) {
    if (shape.pages === undefined) {
      const t0 = performance.now();
      listRuns(queries, filter);
      times.push(performance.now() - t0);
      firstPageSql ??= capture();
    } else {
      let cursor: string | null = null;
      for (let n = 1; n <= shape.pages; n++) {
        const t0 = performance.now();
        const page = listRuns(queries, cursor === null ? filter : { ...filter, cursor });
        if (n > 1) times.push(performance.now() - t0);
        // The plan shown for a paged shape is the one with a cursor.
        if (n === 2) firstPageSql ??= capture();
        cursor = page.next_cursor;
        if (cursor === null) break;
      }
    }
  }
  return { stats: times.length === 0 ? null : stats(times), sql: firstPageSql };
}

// ---------------------------------------------------------------- report

const num = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function report(settings: Settings, meta: StoreMeta, info: { path: string; built: boolean; bytes: number; residentBefore: number; residentAfter: number; serverStartMs: number; serverRssMb: number }, results: readonly ShapeResult[]): string {
  const lines: string[] = [];
  const status = Object.fromEntries(meta.statuses.map((s) => [s.name, s.runs]));
  lines.push(`GET /api/v1/runs on a store of ${meta.runs.toLocaleString('en-US')} evaluated runs (target: p99 < ${TARGET_P99_MS} ms at ${TARGET_RUNS.toLocaleString('en-US')} runs)`);
  lines.push(
    `store: ${info.path}\n  ${mib(info.bytes)} (${info.built ? 'built' : 'cached; built'} in ${num(meta.buildMs / 1000)} s), schema ${meta.schemaVersion}, ` +
      `${meta.workflows.length} workflows, ${meta.kinds.length} kinds, ${meta.findingRows.toLocaleString('en-US')} finding rows, mean record ${meta.meanRecordBytes} B; ` +
      `compliant ${status.compliant ?? 0}, incomplete ${status.incomplete ?? 0}, violation ${status.violation ?? 0}`,
  );
  lines.push(
    `  popular workflow ${meta.workflows[0]!.name} (${meta.workflows[0]!.runs} runs), rare ${meta.workflows.at(-1)!.name} (${meta.workflows.at(-1)!.runs}); ` +
      `findings ${meta.findings.map((f) => `${f.name} ${f.runs}`).join(', ')}; median actor ${meta.medianActor.name} (${meta.medianActor.runs}), top ${meta.actors[0]!.name} (${meta.actors[0]!.runs})`,
  );
  lines.push(
    `server: node dist/main.js serve on 127.0.0.1, started in ${num(info.serverStartMs, 0)} ms, peak RSS ${num(info.serverRssMb, 0)} MB; ` +
      `${settings.requests} sequential requests per shape (in ${settings.rounds} rounds through the shapes) after ${settings.warmup} warm-up, keep-alive; ${cpus().length} CPUs, node ${process.version}`,
  );
  const resident = (bytes: number) => (Number.isFinite(bytes) ? `${mib(bytes)} (${num((100 * bytes) / info.bytes, 0)}%)` : 'unknown');
  lines.push(`store file in the OS page cache: ${resident(info.residentBefore)} before the requests, ${resident(info.residentAfter)} after (the rest is read from disk)`);
  lines.push('');
  const header = ['shape', 'n', 'p50 ms', 'p99 ms', 'max ms', 'in-proc p50', 'in-proc p99', 'runs', 'body KB', 'other CPU', `p99<${TARGET_P99_MS}`];
  for (const group of ['required', 'extra'] as const) {
    const rows = results
      .filter((r) => r.shape.group === group)
      .map((r) => [
        r.shape.name,
        `${r.http.n}${r.truncated ? '*' : ''}`,
        num(r.http.p50),
        num(r.http.p99),
        num(r.http.max),
        num(r.inProcess?.p50 ?? NaN),
        num(r.inProcess?.p99 ?? NaN),
        String(r.rows),
        num(r.bodyBytes / 1024, 0),
        `${num(r.otherCpuPercent, 0)}%`,
        r.errors > 0 ? `ERRORS ${r.errors}` : r.http.p99 < TARGET_P99_MS ? 'ok' : 'MISSED',
      ]);
    if (rows.length === 0) continue;
    lines.push(group === 'required' ? 'shapes of the brief (judged):' : 'harder shapes (reported, not judged):');
    lines.push(...table(header, rows, { indent: '  ' }));
    lines.push('');
  }
  const noisy = results.filter((r) => r.otherCpuPercent > NOISE_CPU_PERCENT);
  if (noisy.length > 0) {
    lines.push(
      `WARNING: other processes used CPU while ${noisy.length} of ${results.length} shapes were timed (up to ${num(Math.max(...noisy.map((r) => r.otherCpuPercent)), 0)}% of one core, on ${cpus().length} cores): their p99 is disturbed; rerun on an idle machine.`,
    );
  }
  if (results.some((r) => r.truncated)) lines.push(`* fewer samples: the shape reached --shape-seconds ${settings.shapeSeconds}`);
  const required = results.filter((r) => r.shape.group === 'required');
  const missed = required.filter((r) => r.errors > 0 || !(r.http.p99 < TARGET_P99_MS));
  const worst = required.reduce<ShapeResult | undefined>((w, r) => (w === undefined || r.http.p99 > w.http.p99 ? r : w), undefined);
  const scale = meta.runs === TARGET_RUNS ? '' : ` (NB: ${meta.runs.toLocaleString('en-US')} runs, not the target's ${TARGET_RUNS.toLocaleString('en-US')})`;
  if (required.length > 0) {
    lines.push(
      missed.length === 0
        ? `verdict: MET — every required shape answers under ${TARGET_P99_MS} ms at p99; worst ${worst!.shape.name} at ${num(worst!.http.p99)} ms${scale}`
        : `verdict: MISSED — ${missed.map((r) => `${r.shape.name} (p99 ${num(r.http.p99)} ms)`).join(', ')}${scale}`,
    );
  }
  const extraMissed = results.filter((r) => r.shape.group === 'extra' && !(r.http.p99 < TARGET_P99_MS));
  if (extraMissed.length > 0) lines.push(`harder shapes over ${TARGET_P99_MS} ms at p99: ${extraMissed.map((r) => `${r.shape.name} (${num(r.http.p99)} ms)`).join(', ')}`);
  for (const r of results) if (r.errors > 0) lines.push(`errors in ${r.shape.name}`);
  if (settings.plans) {
    lines.push('');
    lines.push('query plans (EXPLAIN QUERY PLAN of the SQL RunQueries ran; paged shapes: the page with a cursor):');
    for (const r of results) {
      lines.push(`- ${r.shape.name}: ${new URLSearchParams(r.shape.query).toString() || '(no parameters)'}`);
      for (const p of r.plan) lines.push(`  ${p}`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const settings = parseSettings();
  log(`store: ${settings.runs.toLocaleString('en-US')} runs, seed ${settings.seed}, cached under ${settings.dir}`);
  const buildStarted = performance.now();
  const store = await ensureStore({ runs: settings.runs, seed: settings.seed, dir: settings.dir, rebuild: settings.rebuild, log });
  if (store.built) log(`store built in ${num((performance.now() - buildStarted) / 1000)} s: ${store.path}`);
  else log(`store reused (built ${store.meta.builtAt} in ${num(store.meta.buildMs / 1000)} s): ${store.path}`);
  const bytes = storeBytes(store.path);
  const residentBefore = residentBytes(store.path);

  // Hard bound on the timed part, whatever happens to the server.
  const shapes = shapesFor(store.meta).filter((s) => settings.only === undefined || s.name.includes(settings.only));
  const budgetMs = (shapes.length * 2 * settings.shapeSeconds + 180) * 1000;
  giveUpAfter(budgetMs, log);

  const dir = mkdtempSync(join(tmpdir(), 'runledger-bench-query-'));
  const results: ShapeResult[] = [];
  const serverFigures = { startMs: NaN, rssMb: NaN };
  try {
    const server = await startQueryServer(store.path, dir);
    serverFigures.startMs = server.startMs;
    log(`runledger serving on 127.0.0.1:${server.httpPort} (started in ${num(server.startMs, 0)} ms)`);
    const base = `http://127.0.0.1:${server.httpPort}`;
    // Rounds: every shape takes its share of samples in turn, so a burst of outside load (or the page
    // cache warming) falls on all of them rather than on whichever shape was being timed.
    const timed = shapes.map((shape) => ({ shape, times: [] as number[], rows: 0, bytes: 0, errors: 0, truncated: false, otherSeconds: 0, seconds: 0 }));
    try {
      for (let round = 1; round <= settings.rounds; round++) {
        for (const t of timed) {
          if (t.truncated || t.errors >= 3) continue;
          if (round === 1) {
            for (let i = 0; i < settings.warmup; i++) await sampleHttp(base, { ...t.shape, ...(t.shape.pages !== undefined ? { pages: 2 } : {}) });
          }
          const quota = Math.ceil((settings.requests * round) / settings.rounds) - t.times.length;
          const deadline = performance.now() + settings.shapeSeconds * 1000 - t.seconds * 1000;
          const { value, otherSeconds, seconds } = await otherCpuDuring(server.pid, () => timeShape(base, t.shape, quota, deadline));
          t.times.push(...value.times);
          if (t.rows === 0 && t.bytes === 0) {
            t.rows = value.rows;
            t.bytes = value.bytes;
          }
          t.errors += value.errors;
          t.truncated = value.truncated;
          t.otherSeconds += otherSeconds;
          t.seconds += seconds;
        }
        log(`round ${round}/${settings.rounds} done`);
      }
      for (const t of timed) {
        const st = stats(t.times);
        log(`${t.shape.name}: p50 ${num(st.p50)} ms, p99 ${num(st.p99)} ms, max ${num(st.max)} ms (${st.n} requests, ${t.rows} runs/page, other CPU ${num((100 * t.otherSeconds) / t.seconds, 0)}%)`);
      }
      serverFigures.rssMb = server.peakRssMb();
    } finally {
      await server.stop();
    }

    // In-process: the same queries through RunQueries on a read-only connection, with their plans.
    const db = openDatabase({ path: store.path, synchronous: 'full', busy_timeout_ms: 5000 }, { readonly: true });
    try {
      const rec = recording(db);
      const queries = new RunQueries(rec.db);
      for (const t of timed) {
        const probe = inProcess(queries, rec.last, t.shape, Math.max(settings.inprocess, settings.plans ? 1 : 0), performance.now() + settings.shapeSeconds * 1000);
        const plan = settings.plans && probe.sql !== undefined ? explain(db, probe.sql.sql, probe.sql.params) : [];
        results.push({
          shape: t.shape,
          http: stats(t.times),
          inProcess: settings.inprocess === 0 ? null : probe.stats,
          rows: t.rows,
          bodyBytes: t.bytes,
          errors: t.errors,
          truncated: t.truncated,
          otherCpuPercent: t.seconds > 0.05 ? (100 * t.otherSeconds) / t.seconds : NaN,
          sql: probe.sql?.sql.replace(/\s+/g, ' ') ?? null,
          plan,
        });
      }
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const info = {
    path: store.path,
    built: store.built,
    bytes,
    residentBefore,
    residentAfter: residentBytes(store.path),
    serverStartMs: serverFigures.startMs,
    serverRssMb: serverFigures.rssMb,
  };
  if (settings.json) {
    process.stdout.write(`${JSON.stringify({ settings, store: { ...info, meta: store.meta }, targetP99Ms: TARGET_P99_MS, results }, null, 2)}\n`);
  } else {
    process.stdout.write(`${report(settings, store.meta, info, results)}\n`);
  }
}

await runBenchmark(main, log);
