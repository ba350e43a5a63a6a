/**
 * `npm run bench:runs [-- options]`: a printed benchmark (never a test) of what run assembly, evaluation
 * and enrichment cost ingest, in one invocation, against the real server (`node dist/main.js serve`,
 * 127.0.0.1, a temporary directory each) under the same forked load generator (runs-generator.ts):
 *
 *   A  ingest alone: runs.settle_ms and runs.max_open_ms so large that nothing is judged in the window
 *      (the history worker still indexes the runs intake touched — that cannot be switched off);
 *   B  with evaluation: settle_ms 500, runs of uniformly 5–50 spans with decisions, changes, tool calls;
 *   S  sustained: B's configuration with the load paced at --sustained (0.75) of A's spans/s: does
 *      evaluation keep up with ingest at that rate? (the target says evaluation may cost 25%);
 *   C  B plus enrichment: a generated 10,000-identity inventory and a policy catalogue (JSON);
 *   D  memory with 100k open runs: rootless runs (children carrying the run id) at a moderate rate,
 *      RSS and runledger_runs_open at 10k and at 100k open runs.
 *
 * Prints spans/s, p50/p99 acknowledgement latency, peak RSS (VmHWM of the server process: the history
 * worker is a thread of it), CPU per thread, runs evaluated/s, the backlog when load stops and how long
 * it takes to drain, and the ratios B/A and C/B against the targets.
 *
 * Options: --seconds S (15)  --warmup S (2)  --inflight N (8)  --pool N (32)  --seed N (1)
 *          --scenarios A,B,S,C,D  --sustained FRACTION_OF_A (0.75)  --sustained-rate SPANS/S (without A)
 *          --synchronous full|normal (full)  --open-runs N (100000)
 *          --open-rate SPANS/S (10000)  --drain-timeout S (30)  --identities N (10000)
 *          --set KEY=VALUE (config override for every scenario, repeatable)
 *          --cpu-prof (profile the servers, main thread and history worker)  --dir DIR  --keep  --json
 *          --memory (D: the server's memory at its peak RSS by thread and kind, from memory-probe.cts)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { formatMemoryReport, readMemoryReport } from './memory-report.js';
import type { MemoryProbeReport } from './memory-probe.cjs';
import { formatProfileSummary, readProfile, summarizeProfile, type ProfileSummary } from './profile.js';
import { LOAD_OPTIONS } from './otlp-client.js';
import { check, errorsText, machineJson, machineLine, noiseWarning, num, parseOverrides, positive, synchronousOption, table, warmupSeconds } from './report.js';
import type { CheckpointReport, RunsGeneratorMessage, RunsGeneratorReady, RunsGeneratorResult } from './runs-generator.js';
import { writeReferenceFiles } from './runs-workload.js';
import {
  fsType,
  giveUpAfter,
  pollPeakRss,
  procCpuSeconds,
  procStatus,
  runBenchmark,
  scrapeMetrics,
  sourceVersion,
  startServer,
  systemCpuSeconds,
  threadCpuSeconds,
  track,
  type MetricsScrape,
  type RunningServer,
} from './server-process.js';

const GENERATOR = fileURLToPath(new URL('./runs-generator.js', import.meta.url));

/** Targets from the issues; printed, never asserted. */
const TARGET_EVALUATION_COST = 0.25;
const TARGET_ENRICHMENT_COST = 0.1;
/** Peak RSS of D with its open runs (issue 16). */
const TARGET_OPEN_RUNS_RSS_MB = 250;

/** Large enough that nothing is judged during a benchmark (1 h). */
const NEVER_MS = 3_600_000;

type ScenarioId = 'A' | 'B' | 'S' | 'C' | 'D';
type TimedId = Exclude<ScenarioId, 'D'>;
const SCENARIOS: readonly ScenarioId[] = ['A', 'B', 'S', 'C', 'D'];

interface Settings {
  readonly seconds: number;
  readonly warmup: number;
  readonly inflight: number;
  readonly pool: number;
  readonly seed: number;
  readonly scenarios: readonly ScenarioId[];
  readonly synchronous: 'full' | 'normal';
  readonly openRuns: number;
  readonly openRate: number;
  readonly drainTimeoutS: number;
  readonly identities: number;
  readonly sustained: number;
  readonly sustainedRate: number | undefined;
  readonly overrides: ReadonlyArray<readonly [path: string, value: unknown]>;
  readonly cpuProf: boolean;
  readonly memory: boolean;
  readonly dir: string;
  readonly keep: boolean;
  readonly json: boolean;
}

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function parseSettings(): Settings {
  const { values } = parseArgs({
    options: {
      ...LOAD_OPTIONS,
      pool: { type: 'string', default: '32' },
      scenarios: { type: 'string', default: 'A,B,S,C,D' },
      sustained: { type: 'string', default: '0.75' },
      'sustained-rate': { type: 'string' },
      synchronous: { type: 'string', default: 'full' },
      'open-runs': { type: 'string', default: '100000' },
      'open-rate': { type: 'string', default: '10000' },
      'drain-timeout': { type: 'string', default: '30' },
      identities: { type: 'string', default: '10000' },
      set: { type: 'string', multiple: true, default: [] },
      'cpu-prof': { type: 'boolean', default: false },
      memory: { type: 'boolean', default: false },
      dir: { type: 'string', default: tmpdir() },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const synchronous = synchronousOption(values.synchronous);
  const scenarios = values.scenarios.split(',').map((s) => s.trim().toUpperCase());
  for (const s of scenarios) if (!SCENARIOS.includes(s as ScenarioId)) throw new Error(`unknown scenario ${s} (A, B, S, C or D)`);
  const sustainedRate = values['sustained-rate'] === undefined ? undefined : positive('sustained-rate', values['sustained-rate'], 10_000_000);
  if (scenarios.includes('S') && !scenarios.includes('A') && sustainedRate === undefined) throw new Error('scenario S needs A (to pace at a share of it) or --sustained-rate');
  const openRuns = Math.floor(positive('open-runs', values['open-runs'], 1_000_000));
  if (openRuns % 250 !== 0 || openRuns < 10_000) throw new Error('--open-runs must be a multiple of 250, at least 10000');
  return {
    seconds: positive('seconds', values.seconds, 600),
    warmup: warmupSeconds(values.warmup),
    inflight: Math.floor(positive('inflight', values.inflight, 256)),
    pool: Math.floor(positive('pool', values.pool, 1024)),
    seed: Math.floor(Number(values.seed)),
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    synchronous,
    openRuns,
    openRate: positive('open-rate', values['open-rate'], 1_000_000),
    drainTimeoutS: positive('drain-timeout', values['drain-timeout'], 600),
    identities: Math.floor(positive('identities', values.identities, 1_000_000)),
    sustained: positive('sustained', values.sustained, 1),
    sustainedRate,
    overrides: parseOverrides(values.set),
    cpuProf: values['cpu-prof'],
    memory: values.memory,
    dir: values.dir,
    keep: values.keep,
    json: values.json,
  };
}

// ---------------------------------------------------------------- sampling

/** CPU of the server (per thread), the generator and the machine at one instant. */
interface CpuSnapshot {
  readonly atMs: number;
  readonly server: number;
  readonly threads: Map<number, number>;
  readonly generator: number;
  readonly system: { busy: number; iowait: number };
}

function cpuSnapshot(serverPid: number, generatorPid: number | undefined): CpuSnapshot {
  return {
    atMs: performance.now(),
    server: procCpuSeconds(serverPid),
    threads: threadCpuSeconds(serverPid),
    generator: generatorPid === undefined ? 0 : procCpuSeconds(generatorPid),
    system: systemCpuSeconds(),
  };
}

interface CpuUse {
  readonly seconds: number;
  /** Percentages of one core over the interval. */
  readonly serverPct: number;
  readonly mainThreadPct: number;
  /**
   * The two busiest threads but main: the intake writer and the run-history worker, in whichever order
   * (Node names neither thread; GC helper threads are the rest).
   */
  readonly workerThreadPct: number;
  readonly secondWorkerThreadPct: number;
  readonly otherThreadsPct: number;
  readonly generatorPct: number;
  /** Every other process on the machine (noise). */
  readonly otherPct: number;
  readonly iowaitPct: number;
  readonly serverCpuSeconds: number;
}

function cpuBetween(pid: number, a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const seconds = (b.atMs - a.atMs) / 1000;
  const pct = (x: number) => (x / seconds) * 100;
  const server = b.server - a.server;
  const generator = b.generator - a.generator;
  const deltas = [...b.threads].map(([tid, s]) => [tid, s - (a.threads.get(tid) ?? 0)] as const);
  const main = deltas.find(([tid]) => tid === pid)?.[1] ?? NaN;
  const others = deltas.filter(([tid]) => tid !== pid).map(([, s]) => s);
  others.sort((x, y) => y - x);
  const worker = others[0] ?? NaN;
  const second = others[1] ?? NaN;
  const rest = others.slice(2).reduce((x, y) => x + y, 0);
  return {
    seconds,
    serverPct: pct(server),
    mainThreadPct: pct(main),
    workerThreadPct: pct(worker),
    secondWorkerThreadPct: pct(second),
    otherThreadsPct: pct(rest),
    generatorPct: pct(generator),
    otherPct: pct(b.system.busy - a.system.busy - server - generator),
    iowaitPct: pct(b.system.iowait - a.system.iowait),
    serverCpuSeconds: server,
  };
}

const EVALUATED = 'runledger_runs_evaluated_total';
const OPEN = 'runledger_runs_open';

function orZero(n: number): number {
  return Number.isNaN(n) ? 0 : n;
}

async function waitFor(httpPort: number, done: (m: MetricsScrape) => boolean, timeoutMs: number, everyMs = 250): Promise<{ met: boolean; last: MetricsScrape }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const m = await scrapeMetrics(httpPort);
    if (done(m)) return { met: true, last: m };
    if (performance.now() >= deadline) return { met: false, last: m };
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- database

interface StoreFigures {
  readonly spans: number;
  readonly pendingSpans: number;
  readonly runs: number;
  readonly openRuns: number;
  readonly revisions: number;
  readonly dbBytes: number;
  /** Findings by code over every revision, most frequent first. */
  readonly findings: ReadonlyArray<readonly [code: string, count: number]>;
  readonly compliantRevisions: number;
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function storeFigures(dbPath: string): StoreFigures {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
  try {
    const spans = db.prepare('SELECT count(*) AS n, coalesce(sum(run_key IS NULL), 0) AS pending FROM spans').get() as { n: number; pending: number };
    const runs = db.prepare("SELECT count(*) AS n, coalesce(sum(state = 'open'), 0) AS open FROM runs").get() as { n: number; open: number };
    const revisions = db.prepare("SELECT count(*) AS n, coalesce(sum(status = 'compliant'), 0) AS compliant FROM run_revisions").get() as { n: number; compliant: number };
    const findings = db.prepare('SELECT code, count(*) AS n FROM run_findings GROUP BY code ORDER BY n DESC').all() as Array<{ code: string; n: number }>;
    return {
      spans: spans.n,
      pendingSpans: spans.pending,
      runs: runs.n,
      openRuns: runs.open,
      revisions: revisions.n,
      compliantRevisions: revisions.compliant,
      findings: findings.map((f) => [f.code, f.n] as const),
      dbBytes: fileBytes(dbPath) + fileBytes(`${dbPath}-wal`),
    };
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- profiles

interface ThreadProfile {
  readonly file: string;
  readonly summary: ProfileSummary;
  /** Milliseconds by phase of the history worker's work (see PHASES). */
  readonly phases: ReadonlyArray<readonly [phase: string, ms: number]>;
}

interface ThreadProfiles {
  readonly main?: ThreadProfile;
  readonly worker?: ThreadProfile;
}

type CpuProfile = ReturnType<typeof readProfile>;
type CallFrame = CpuProfile['nodes'][number]['callFrame'];

/** Phases of the history worker, by the innermost of these frames on a sample's stack. */
const PHASES: ReadonlyArray<readonly [phase: string, test: (f: CallFrame) => boolean]> = [
  ['load spans (SELECT, protobuf decode, digest)', (f) => f.functionName === 'loadRun'],
  ['judge (evaluateRun)', (f) => f.functionName === 'evaluateRun'],
  ['save (revision, findings, claims, chain: one transaction)', (f) => f.functionName === 'saveHere' && f.url.includes('history-writer')],
  ['handing batches to the intake writer (while intake is idle)', (f) => f.functionName === 'append' && f.url.includes('revision-channel')],
  ['assembly (touched: index refresh)', (f) => f.functionName === 'touched'],
  ['judging pass, the rest (runState reads, scan, bookkeeping)', (f) => f.functionName === 'judgePass'],
  ['settling saved runs', (f) => f.functionName === 'save' && f.url.includes('assembler')],
  ['WAL checkpoint', (f) => f.functionName === 'checkpointWal'],
  ['signed checkpoints', (f) => f.functionName === 'checkpoint' && f.url.includes('run-history')],
];

function phasesOf(profile: CpuProfile): Array<readonly [string, number]> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phaseOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = phaseOf.get(id);
    if (known !== undefined) return known;
    const own = byId.get(id)!.callFrame.functionName;
    let phase = own === '(idle)' ? '(idle)' : own === '(garbage collector)' ? 'GC' : 'other';
    if (phase === 'other') {
      search: for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        for (const [name, test] of PHASES) {
          if (test(byId.get(at)!.callFrame)) {
            phase = name;
            break search;
          }
        }
      }
    }
    phaseOf.set(id, phase);
    return phase;
  };
  const ms = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const phase = classify(profile.samples[i]!);
    ms.set(phase, (ms.get(phase) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000);
  }
  ms.delete('(idle)');
  return [...ms].sort((a, b) => b[1] - a[1]);
}

/**
 * Node names profiles CPU.DATE.TIME.PID.THREAD.SEQ.cpuprofile; thread 0 is the main thread, then the
 * workers in the order they start: the intake writer (1), then the history worker (2).
 */
function readProfiles(profDir: string, pid: number): ThreadProfiles {
  const out: { main?: ThreadProfiles['main']; worker?: ThreadProfiles['worker'] } = {};
  let workerThread = 0;
  for (const file of readdirSync(profDir)) {
    const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file);
    if (m === null || Number(m[1]) !== pid) continue;
    const path = join(profDir, file);
    const profile = readProfile(path);
    const summary = summarizeProfile(profile, 20);
    const entry = { file: path, summary: { ...summary, areas: summary.areas.slice(0, 12) }, phases: phasesOf(profile) };
    const thread = Number(m[2]);
    if (thread === 0) out.main = entry;
    else if (thread > workerThread) {
      workerThread = thread;
      out.worker = entry;
    }
  }
  return out;
}

// ---------------------------------------------------------------- scenarios A, B, C

interface TimedResult {
  readonly scenario: TimedId;
  /** The pace the load generator kept to (S only), spans/s. */
  readonly offeredRate?: number;
  readonly title: string;
  readonly ready: RunsGeneratorReady;
  readonly generator: RunsGeneratorResult;
  readonly spansPerSecond: number;
  readonly runsPerSecond: number;
  readonly cpu: CpuUse;
  /** Server CPU milliseconds per 1,000 spans acknowledged in the window. */
  readonly cpuMsPerKSpans: number;
  readonly peakRssMb: number;
  readonly evaluatedInWindow: number;
  readonly evaluatedPerSecond: number;
  readonly openAtStart: number;
  readonly openAtEnd: number;
  /** After the last call was answered. */
  readonly openWhenLoadStopped: number;
  readonly drainSeconds: number | null;
  readonly drained: boolean;
  readonly evaluatedPerSecondDraining: number;
  readonly evaluationFailures: number;
  readonly capped: number;
  readonly referenceReloads: number;
  readonly store: StoreFigures;
  readonly reference?: { identities: number; policies: number; agents: number; workflows: number };
  readonly profiles?: ThreadProfiles;
}

const TITLES: Record<ScenarioId, string> = {
  A: 'ingest alone (evaluation held back)',
  B: 'with evaluation (settle 500 ms)',
  S: 'sustained: B paced below A',
  C: 'evaluation + enrichment',
  D: 'open runs (no roots)',
};

interface GeneratorHandle {
  readonly child: ChildProcess;
  readonly done: Promise<{ ready: RunsGeneratorReady; result: RunsGeneratorResult }>;
}

function forkGenerator(args: string[], onMessage: (m: RunsGeneratorMessage, child: ChildProcess) => void, timeoutMs: number): GeneratorHandle {
  const child = fork(GENERATOR, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(child);
  const done = new Promise<{ ready: RunsGeneratorReady; result: RunsGeneratorResult }>((resolve, reject) => {
    let ready: RunsGeneratorReady | undefined;
    let result: RunsGeneratorResult | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('message', (message: RunsGeneratorMessage) => {
      if (message.type === 'ready') ready = message.ready;
      else if (message.type === 'result') result = message.result;
      else if (message.type === 'error') log(`load generator failed: ${message.message}`);
      onMessage(message, child);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (ready !== undefined && result !== undefined) resolve({ ready, result });
      else reject(new Error(`load generator exited (${code ?? signal}) without a result`));
    });
  });
  return { child, done };
}

async function runTimed(id: TimedId, settings: Settings, profRoot: string | undefined, offeredRate?: number): Promise<TimedResult> {
  const dir = mkdtempSync(join(settings.dir, `runledger-bench-runs-${id}-`));
  const profDir = profRoot === undefined ? undefined : join(profRoot, id);
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
  let reference: TimedResult['reference'];
  const config: Record<string, unknown> = {
    runs: id === 'A' ? { settle_ms: NEVER_MS, max_open_ms: NEVER_MS, max_open_runs: 10_000_000 } : { settle_ms: 500 },
  };
  if (id === 'C') {
    const identities = join(dir, 'identities.json');
    const policies = join(dir, 'policies.json');
    reference = writeReferenceFiles(identities, policies, settings.identities);
    config.enrich = { identities_file: identities, policies_file: policies };
  }
  log(`${id} ${TITLES[id]}: starting server (${dir})`);
  const server = await startServer({ dir, synchronous: settings.synchronous, config, overrides: settings.overrides, ...(profDir ? { profDir } : {}), onSpawn: track });
  try {
    return await measureTimed(id, server, settings, reference, profDir, dir, offeredRate);
  } finally {
    await server.stop();
    if (!settings.keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function measureTimed(
  id: TimedId,
  server: RunningServer,
  settings: Settings,
  reference: TimedResult['reference'],
  profDir: string | undefined,
  dir: string,
  offeredRate: number | undefined,
): Promise<TimedResult> {
  const start: { cpu?: CpuSnapshot; metrics?: Promise<MetricsScrape> } = {};
  const end: { cpu?: CpuSnapshot; metrics?: Promise<MetricsScrape> } = {};
  const rss = pollPeakRss(server.pid);
  const args = [
    '--port', String(server.grpcPort),
    '--mode', 'timed',
    '--seconds', String(settings.seconds),
    '--warmup', String(settings.warmup),
    '--inflight', String(settings.inflight),
    '--pool', String(settings.pool),
    '--seed', String(settings.seed),
    ...(offeredRate !== undefined ? ['--timed-rate', String(Math.round(offeredRate))] : []),
  ];
  const generator = forkGenerator(
    args,
    (message, child) => {
      if (message.type === 'ready') log(`${id}: ${message.ready.poolSize} requests encoded in ${message.ready.encodeMs.toFixed(0)} ms; running`);
      else if (message.type === 'timed-start') {
        start.cpu = cpuSnapshot(server.pid, child.pid);
        start.metrics = scrapeMetrics(server.httpPort);
      } else if (message.type === 'timed-end') {
        end.cpu = cpuSnapshot(server.pid, child.pid);
        end.metrics = scrapeMetrics(server.httpPort);
      }
    },
    (settings.warmup + settings.seconds + 120) * 1000,
  );
  let run: { ready: RunsGeneratorReady; result: RunsGeneratorResult };
  try {
    run = await generator.done;
  } finally {
    rss.stop();
  }
  if (start.cpu === undefined || end.cpu === undefined || start.metrics === undefined || end.metrics === undefined) {
    throw new Error(`${id}: the generator never reported its timed window`);
  }
  const [m0, m1] = await Promise.all([start.metrics, end.metrics]);
  const stopped = await scrapeMetrics(server.httpPort);
  const openWhenLoadStopped = orZero(stopped.sum(OPEN));

  // The backlog: how long the runs left open take to be judged once load stops (bounded).
  let drainSeconds: number | null = null;
  let drained = false;
  let evaluatedPerSecondDraining = NaN;
  if (id !== 'A') {
    log(`${id}: load stopped with ${openWhenLoadStopped} runs open; waiting for them to be judged (at most ${settings.drainTimeoutS} s)`);
    const t0 = performance.now();
    const wait = await waitFor(server.httpPort, (m) => orZero(m.sum(OPEN)) === 0, settings.drainTimeoutS * 1000, 100);
    drained = wait.met;
    drainSeconds = (performance.now() - t0) / 1000;
    evaluatedPerSecondDraining = (orZero(wait.last.sum(EVALUATED)) - orZero(stopped.sum(EVALUATED))) / Math.max(drainSeconds, 1e-3);
  }
  const last = await scrapeMetrics(server.httpPort);
  const hwmKb = procStatus(server.pid).hwmKb;
  await server.stop();
  const store = storeFigures(server.dbPath);
  const profiles = profDir === undefined ? undefined : readProfiles(profDir, server.pid);
  if (settings.keep) log(`${id}: kept ${dir}`);

  const cpu = cpuBetween(server.pid, start.cpu, end.cpu);
  const { result } = run;
  const windowS = (m1.atMs - m0.atMs) / 1000;
  const evaluatedInWindow = orZero(m1.sum(EVALUATED)) - orZero(m0.sum(EVALUATED));
  return {
    scenario: id,
    title: TITLES[id],
    ...(offeredRate !== undefined ? { offeredRate } : {}),
    ready: run.ready,
    generator: result,
    spansPerSecond: result.spansAcked / result.windowSeconds,
    runsPerSecond: result.runsAcked / result.windowSeconds,
    cpu,
    cpuMsPerKSpans: (cpu.serverCpuSeconds * 1000) / (result.spansAcked / 1000),
    peakRssMb: Math.max(Number.isFinite(hwmKb) ? hwmKb : 0, rss.peakKb()) / 1024,
    evaluatedInWindow,
    evaluatedPerSecond: evaluatedInWindow / windowS,
    openAtStart: orZero(m0.sum(OPEN)),
    openAtEnd: orZero(m1.sum(OPEN)),
    openWhenLoadStopped,
    drainSeconds,
    drained,
    evaluatedPerSecondDraining,
    evaluationFailures: orZero(last.sum('runledger_run_evaluation_failures_total')),
    capped: orZero(last.sum('runledger_runs_capped_total')),
    referenceReloads: orZero(last.sum('runledger_reference_reloads_total')),
    store,
    ...(reference === undefined ? {} : { reference }),
    ...(profiles === undefined ? {} : { profiles }),
  };
}

// ---------------------------------------------------------------- scenario D

interface MemoryPoint {
  readonly runsSent: number;
  readonly openRuns: number;
  readonly rssMb: number;
  readonly hwmMb: number;
  readonly mainHeapUsedMb: number;
  readonly waitedMs: number;
}

interface OpenRunsResult {
  readonly scenario: 'D';
  readonly title: string;
  readonly ready: RunsGeneratorReady;
  readonly generator: RunsGeneratorResult;
  readonly spansPerSecond: number;
  readonly baseline: MemoryPoint;
  readonly points: readonly MemoryPoint[];
  /** Server CPU with every run open and no load, percent of one core (the assembler's periodic scan). */
  readonly idleCpuPct: number;
  readonly idleWorkerPct: number;
  readonly capped: number;
  readonly peakRssMb: number;
  readonly store: StoreFigures;
  /** With --memory: where the server's memory was at its peak RSS. */
  readonly memory?: MemoryProbeReport;
}

async function memoryPoint(server: RunningServer, runsSent: number, expectOpen: number, timeoutMs: number): Promise<MemoryPoint> {
  const t0 = performance.now();
  // runs_open is set by the history worker once it has indexed what intake committed.
  await waitFor(server.httpPort, (m) => orZero(m.sum(OPEN)) >= expectOpen, timeoutMs);
  const waitedMs = performance.now() - t0;
  await sleep(1500);
  const m = await scrapeMetrics(server.httpPort);
  const { rssKb, hwmKb } = procStatus(server.pid);
  return {
    runsSent,
    openRuns: orZero(m.sum(OPEN)),
    rssMb: rssKb / 1024,
    hwmMb: hwmKb / 1024,
    mainHeapUsedMb: orZero(m.sum('runledger_process_nodejs_heap_size_used_bytes')) / 2 ** 20,
    waitedMs,
  };
}

async function runOpenRuns(settings: Settings): Promise<OpenRunsResult> {
  const dir = mkdtempSync(join(settings.dir, 'runledger-bench-runs-D-'));
  // Roots never come and max_open_ms is an hour: every run stays open. max_open_runs keeps its default.
  const config = { runs: { max_open_ms: NEVER_MS } };
  log(`D ${TITLES.D}: starting server (${dir})`);
  const memoryFile = settings.memory ? join(dir, 'memory.json') : undefined;
  const server = await startServer({ dir, synchronous: settings.synchronous, config, overrides: settings.overrides, ...(memoryFile === undefined ? {} : { memoryFile }), onSpawn: track });
  try {
    await sleep(1000);
    const baseline = await memoryPoint(server, 0, 0, 1000);
    const checkpoints = [...new Set([10_000, settings.openRuns])];
    const points: MemoryPoint[] = [];
    let idleCpuPct = NaN;
    let idleWorkerPct = NaN;
    const rss = pollPeakRss(server.pid);
    const args = [
      '--port', String(server.grpcPort),
      '--mode', 'count',
      '--checkpoints', checkpoints.join(','),
      '--rate', String(settings.openRate),
      '--inflight', '4',
      '--pool', '16',
      '--seed', String(settings.seed),
      '--spans-per-request', '500',
      '--orphan-spans', '2',
    ];
    let pending = Promise.resolve();
    const generator = forkGenerator(
      args,
      (message, child) => {
        if (message.type === 'ready') log(`D: ${message.ready.poolSize} requests of ${message.ready.meanRunsPerRequest} rootless runs encoded; sending ${settings.openRuns} runs at most ${settings.openRate} spans/s`);
        if (message.type !== 'checkpoint') return;
        const c: CheckpointReport = message.checkpoint;
        pending = pending.then(async () => {
          log(`D: ${c.runs} runs acknowledged (${(c.spans / c.seconds).toFixed(0)} spans/s); sampling memory`);
          points.push(await memoryPoint(server, c.runs, c.runs, 30_000));
          if (c.runs >= settings.openRuns) {
            const a = cpuSnapshot(server.pid, undefined);
            await sleep(3000);
            const use = cpuBetween(server.pid, a, cpuSnapshot(server.pid, undefined));
            idleCpuPct = use.serverPct;
            idleWorkerPct = use.workerThreadPct;
          }
          child.send({ type: 'continue' });
        });
      },
      (settings.openRuns / settings.openRate) * 2 * 1000 + 180_000,
    );
    let run: { ready: RunsGeneratorReady; result: RunsGeneratorResult };
    try {
      run = await generator.done;
      await pending;
    } finally {
      rss.stop();
    }
    const last = await scrapeMetrics(server.httpPort);
    const hwmKb = procStatus(server.pid).hwmKb;
    await server.stop();
    const store = storeFigures(server.dbPath);
    const memory = memoryFile === undefined ? undefined : readMemoryReport(memoryFile);
    if (memoryFile !== undefined && memory === undefined) log('D: the memory probe wrote no report');
    return {
      scenario: 'D',
      title: TITLES.D,
      ready: run.ready,
      generator: run.result,
      spansPerSecond: run.result.spansAcked / run.result.windowSeconds,
      baseline,
      points,
      idleCpuPct,
      idleWorkerPct,
      capped: orZero(last.sum('runledger_runs_capped_total')),
      peakRssMb: Math.max(hwmKb, rss.peakKb()) / 1024,
      store,
      ...(memory === undefined ? {} : { memory }),
    };
  } finally {
    await server.stop();
    if (!settings.keep) rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report

/** Judged (nearly) every run acknowledged in the window, and the rest soon after load stopped. */
function keepsUp(r: TimedResult): boolean {
  return r.drained && r.evaluatedInWindow >= 0.9 * r.generator.runsAcked;
}

function keepingUpText(r: TimedResult): string {
  return `${num(r.evaluatedPerSecond)} runs/s judged vs ${num(r.runsPerSecond)} runs/s acknowledged; backlog ${num(r.openWhenLoadStopped)} runs when load stopped, ${r.drained ? `drained in ${num(r.drainSeconds ?? NaN, 1)} s` : 'not drained'}`;
}

const pct = (x: number, digits = 1) => `${num(x * 100, digits)}%`;

function report(settings: Settings, timed: readonly TimedResult[], open: OpenRunsResult | undefined): string {
  const lines: string[] = [];
  const dbFs = fsType(settings.dir);
  lines.push(`runledger runs benchmark (assembly, evaluation, enrichment; OTLP/gRPC on 127.0.0.1), runledger ${sourceVersion()}`);
  lines.push(machineLine());
  lines.push(
    `settings: ${settings.seconds} s timed after ${settings.warmup} s warm-up per scenario, ${settings.inflight} requests in flight, synchronous=${settings.synchronous}; database ${settings.dir} (${dbFs})${dbFs === 'tmpfs' ? ' WARNING: tmpfs ignores fsync' : ''}`,
  );
  const w = timed[0]?.ready;
  if (w !== undefined) {
    const shares = Object.entries(w.stepShares)
      .map(([k, v]) => `${k} ${pct(v, 0)}`)
      .join(', ');
    lines.push(
      `workload: runs of uniformly 5–50 spans (mean ${num(w.meanSpansPerRun, 1)}), whole runs per request (≈${num(w.spansPerRequest)} spans, ${num(w.meanRequestBytes / 1024)} KiB), kinds secret_rotation/jit_access/deprovisioning/agent_task/ci_deploy; spans: ${shares}; ${w.poolSize} pre-encoded requests, fresh trace and run/event/decision ids stamped into each send`,
    );
  }
  if (settings.overrides.length > 0) lines.push(`config overrides: ${settings.overrides.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`);
  lines.push('');

  if (timed.length > 0) {
    const rows = timed.map((r) => [
      `${r.scenario} ${r.title}`,
      num(r.spansPerSecond),
      num(r.runsPerSecond),
      num(r.generator.latency.p50Ms, 1),
      num(r.generator.latency.p99Ms, 1),
      num(r.peakRssMb, 1),
      `${num(r.cpu.serverPct)}%`,
      `${num(r.cpu.mainThreadPct)}%`,
      `${num(r.cpu.workerThreadPct)}%`,
      num(r.cpuMsPerKSpans, 1),
      r.scenario === 'A' ? `(${num(r.evaluatedPerSecond)})` : num(r.evaluatedPerSecond),
      errorsText(r.generator),
    ]);
    lines.push(
      ...table(['scenario', 'spans/s', 'runs/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'server CPU', 'main thr', 'top other thr', 'CPU ms/1k spans', 'evaluated/s', 'errors'], rows),
    );
    lines.push('');
    for (const r of timed) {
      const g = r.generator;
      lines.push(
        `${r.scenario}: ${r.offeredRate !== undefined ? `paced at ${num(r.offeredRate)} spans/s; ` : ''}${num(g.okRequests)} requests, ${num(g.runsAcked)} runs acknowledged in the window (p90 ${num(g.latency.p90Ms, 1)} ms, max ${num(g.latency.maxMs, 1)} ms); ` +
          `CPU (of one core): server ${num(r.cpu.serverPct)}% = main ${num(r.cpu.mainThreadPct)}% + the two busiest other threads (intake writer and history worker, in some order) ${num(r.cpu.workerThreadPct)}% and ${num(r.cpu.secondWorkerThreadPct)}% + rest ${num(r.cpu.otherThreadsPct)}%, generator ${num(r.cpu.generatorPct)}%, other processes ${num(r.cpu.otherPct)}%, iowait ${num(r.cpu.iowaitPct)}%`,
      );
      lines.push(
        `   runs open: ${num(r.openAtStart)} at window start, ${num(r.openAtEnd)} at its end, ${num(r.openWhenLoadStopped)} when the last call was answered` +
          (r.scenario === 'A'
            ? ` (nothing judged: ${num(r.evaluatedInWindow)} evaluated in the window)`
            : `; ${r.drained ? `drained in ${num(r.drainSeconds ?? NaN, 1)} s` : `NOT drained after ${num(r.drainSeconds ?? NaN, 1)} s`} (${num(r.evaluatedPerSecondDraining)} runs/s while draining); evaluated in the window ${num(r.evaluatedInWindow)} of ${num(g.runsAcked)} runs acknowledged (${pct(r.evaluatedInWindow / g.runsAcked, 0)})`),
      );
      lines.push(
        `   store: ${num(r.store.spans)} spans (${num(r.store.pendingSpans)} pending), ${num(r.store.runs)} runs (${num(r.store.openRuns)} open), ${num(r.store.revisions)} revisions (${pct(r.store.compliantRevisions / Math.max(1, r.store.revisions), 0)} compliant), db ${num(r.store.dbBytes / 2 ** 20, 1)} MiB; evaluation failures ${num(r.evaluationFailures)}, capped ${num(r.capped)}` +
          (r.reference === undefined
            ? ''
            : `; reference: ${num(r.reference.identities)} identities, ${r.reference.policies} policies, ${r.reference.agents} agents, ${r.reference.workflows} workflows (reloads ${num(r.referenceReloads)})`),
      );
      if (r.store.findings.length > 0) {
        lines.push(`   findings: ${r.store.findings.map(([code, n]) => `${code} ${num(n)}`).join(', ')}`);
      }
      for (const [code, message] of Object.entries(g.errorSamples)) lines.push(`   ${code}: ${message}`);
    }
  }

  if (open !== undefined) {
    lines.push('');
    lines.push(`D ${open.title}: ${num(open.generator.runsAcked)} rootless runs of 2 child spans carrying the run id, ${num(open.spansPerSecond)} spans/s (rate cap ${num(settings.openRate)}), p99 ${num(open.generator.latency.p99Ms, 1)} ms; runs.max_open_ms 1 h, max_open_runs default`);
    lines.push(
      ...table(
        ['point', 'runs sent', 'runs_open', 'RSS MB', 'VmHWM MB', 'main heap MB'],
        [open.baseline, ...open.points].map((p, i) => [
          i === 0 ? 'idle, before load' : `after ${num(p.runsSent)} runs`,
          num(p.runsSent),
          num(p.openRuns),
          num(p.rssMb, 1),
          num(p.hwmMb, 1),
          num(p.mainHeapUsedMb, 1),
        ]),
      ),
    );
    const [small, large] = [open.points[0], open.points[open.points.length - 1]];
    if (small !== undefined && large !== undefined && large !== small) {
      const perRun = ((large.rssMb - small.rssMb) * 2 ** 20) / Math.max(1, large.openRuns - small.openRuns);
      lines.push(
        `   growth: ${num(large.rssMb - small.rssMb, 1)} MB RSS for ${num(large.openRuns - small.openRuns)} more open runs ≈ ${num(perRun)} B per open run; peak RSS ${num(open.peakRssMb, 1)} MB; ` +
          `idle with ${num(large.openRuns)} open runs: server CPU ${num(open.idleCpuPct)}% of one core (busiest non-main thread ${num(open.idleWorkerPct)}%); capped ${num(open.capped)}; store: ${num(open.store.runs)} runs, ${num(open.store.openRuns)} open`,
      );
    }
    if (open.memory !== undefined) lines.push(...formatMemoryReport('D', open.memory));
  }

  lines.push(...noiseWarning(timed.map((r) => [r.scenario, r.cpu.otherPct])));

  const a = timed.find((r) => r.scenario === 'A');
  const b = timed.find((r) => r.scenario === 'B');
  const c = timed.find((r) => r.scenario === 'C');
  lines.push('');
  lines.push('targets:');
  if (a !== undefined && b !== undefined) {
    const ratio = b.spansPerSecond / a.spansPerSecond;
    lines.push(
      `  evaluation costs ≤ ${pct(TARGET_EVALUATION_COST, 0)} of ingest throughput: ${check(1 - ratio <= TARGET_EVALUATION_COST)} (B/A = ${num(ratio, 3)} spans/s → cost ${pct(1 - ratio)}; server CPU per span B/A = ${num(b.cpuMsPerKSpans / a.cpuMsPerKSpans, 2)}×)`,
    );
    lines.push(`  evaluation keeps up at full load (B): ${keepsUp(b) ? 'yes' : 'NO'} (${keepingUpText(b)})`);
  }
  const sustained = timed.find((r) => r.scenario === 'S');
  if (sustained?.offeredRate !== undefined) {
    const share = a === undefined ? '' : ` = ${num(sustained.offeredRate / a.spansPerSecond, 2)} of A`;
    // Paced load the server did not even take in full is not a rate it sustains.
    const met = keepsUp(sustained) && sustained.spansPerSecond >= 0.97 * sustained.offeredRate;
    lines.push(
      `  evaluation keeps up with ingest at ${num(sustained.offeredRate)} spans/s${share} (S): ${met ? 'yes' : 'NO'} (${num(sustained.spansPerSecond)} spans/s taken, p99 ${num(sustained.generator.latency.p99Ms, 1)} ms; ${keepingUpText(sustained)})`,
    );
  }
  if (b !== undefined && c !== undefined) {
    const ratio = c.spansPerSecond / b.spansPerSecond;
    const extra =
      a === undefined
        ? ''
        : `; as a share of A: cost ${pct(1 - b.spansPerSecond / a.spansPerSecond)} without enrichment, ${pct(1 - c.spansPerSecond / a.spansPerSecond)} with`;
    lines.push(
      `  enrichment (${num(c.reference?.identities ?? NaN)} identities) adds ≤ ${pct(TARGET_ENRICHMENT_COST, 0)}: ${check(1 - ratio <= TARGET_ENRICHMENT_COST)} (C/B = ${num(ratio, 3)} spans/s → cost ${pct(1 - ratio)}; server CPU per span C/B = ${num(c.cpuMsPerKSpans / b.cpuMsPerKSpans, 2)}×${extra})`,
    );
  }
  if (open !== undefined) {
    const large = open.points[open.points.length - 1];
    lines.push(
      `  D peak RSS ≤ ${TARGET_OPEN_RUNS_RSS_MB} MB with ${num(settings.openRuns)} open runs: ${check(open.peakRssMb <= TARGET_OPEN_RUNS_RSS_MB && (large?.openRuns ?? 0) >= settings.openRuns)} ` +
        `(peak ${num(open.peakRssMb, 1)} MB; RSS ${num(large?.rssMb ?? NaN, 1)} MB with ${num(large?.openRuns ?? NaN)} open, see growth per open run above)`,
    );
  }

  for (const r of timed) {
    if (r.profiles === undefined) continue;
    for (const [thread, entry] of [['history worker', r.profiles.worker], ['main thread', r.profiles.main]] as const) {
      if (entry === undefined) {
        lines.push('', `${r.scenario}: no CPU profile of the ${thread}`);
        continue;
      }
      lines.push('', formatProfileSummary(`CPU profile of ${r.scenario} ${thread} (${entry.file})`, entry.summary));
      if (thread === 'history worker') {
        lines.push('  busy time by phase:');
        for (const [phase, ms] of entry.phases) lines.push(`    ${pct(ms / entry.summary.busyMs).padStart(6)}  ${num(ms).padStart(7)} ms  ${phase}`);
      }
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const settings = parseSettings();
  const timedCount = settings.scenarios.filter((s) => s !== 'D').length;
  const budgetMs = (timedCount * (settings.warmup + settings.seconds + settings.drainTimeoutS + 120) + (settings.scenarios.includes('D') ? (settings.openRuns / settings.openRate) * 2 + 180 : 0)) * 1000;
  giveUpAfter(budgetMs, log, String(Math.round(budgetMs / 1000)));

  const profRoot = settings.cpuProf ? mkdtempSync(join(settings.dir, 'runledger-bench-runs-prof-')) : undefined;
  const timed: TimedResult[] = [];
  for (const id of settings.scenarios) {
    if (id === 'D') continue;
    const a = timed.find((r) => r.scenario === 'A');
    const offered = id !== 'S' ? undefined : a !== undefined ? settings.sustained * a.spansPerSecond : settings.sustainedRate;
    timed.push(await runTimed(id, settings, profRoot, offered));
  }
  const open = settings.scenarios.includes('D') ? await runOpenRuns(settings) : undefined;

  if (settings.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          runledger: sourceVersion(),
          machine: machineJson(),
          settings: { ...settings, dbFilesystem: fsType(settings.dir) },
          timed,
          open,
        },
        (_key, value: unknown) => (value instanceof Map ? Object.fromEntries(value) : value),
        2,
      )}\n`,
    );
  } else {
    process.stdout.write(`${report(settings, timed, open)}\n`);
  }
  if (profRoot !== undefined) log(`CPU profiles kept in ${profRoot} (node dist-bench/bench/profile.js FILE)`);
}

await runBenchmark(main, log);
