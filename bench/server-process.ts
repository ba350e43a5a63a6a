/**
 * Helpers for benchmarks that run the real server (`node dist/main.js serve`) in a child process:
 * start it on 127.0.0.1 with a generated config in a temporary directory (or any server that logs the
 * port it listens on, with spawnListening), scrape its /metrics, and sample its memory and CPU (per
 * thread, so the run-history worker shows apart from the main thread) from /proc. Linux only for the
 * /proc figures; elsewhere they read as NaN. Also the benchmark process's own lifecycle: the children
 * it must kill when it exits, is interrupted or gives up.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** The server's entry point as it ships, dist/main.js (from dist-bench/bench/). */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const MEMORY_PROBE = fileURLToPath(new URL('./memory-probe.cjs', import.meta.url));

// ---------------------------------------------------------------- /proc sampling (Linux)

export function procStatus(pid: number): { hwmKb: number; rssKb: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { hwmKb: field('VmHWM'), rssKb: field('VmRSS') };
  } catch {
    return { hwmKb: NaN, rssKb: NaN };
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function statCpuSeconds(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds of a process (all its threads). */
export function procCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** User + system CPU seconds of each thread of a process, by thread id. */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) out.set(Number(tid), statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/** Machine-wide CPU seconds from /proc/stat: busy (all but idle and iowait) and iowait, summed over cores. */
export function systemCpuSeconds(): { busy: number; iowait: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    return { busy: (user + nice + system + irq + softirq + steal) / CLOCK_TICKS, iowait: iowait / CLOCK_TICKS };
  } catch {
    return { busy: NaN, iowait: NaN };
  }
}

export function fsType(dir: string): string {
  try {
    const type = statfsSync(dir).type;
    const known: Record<number, string> = { 0x01021994: 'tmpfs', 0xef53: 'ext4', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' };
    return known[type] ?? `0x${type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

/** The commit measured, and whether src/ or bench/ had uncommitted changes when they were built. */
export function sourceVersion(): string {
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return `${head}${dirty ? '+uncommitted src or bench changes' : ''}`;
  } catch {
    return '(version unknown)';
  }
}

// ---------------------------------------------------------------- metrics

/** One scrape of /metrics: sample values by metric name and label set. */
export class MetricsScrape {
  constructor(
    readonly atMs: number,
    private readonly samples: ReadonlyArray<{ readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }>,
  ) {}

  static parse(text: string, atMs: number): MetricsScrape {
    const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (m === null) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
    return new MetricsScrape(atMs, samples);
  }

  /** Sum over every label set (NaN when the metric is absent). */
  sum(name: string): number {
    let total = NaN;
    for (const s of this.samples) if (s.name === name) total = (Number.isNaN(total) ? 0 : total) + s.value;
    return total;
  }

  /** Sums by the value of one label. */
  byLabel(name: string, label: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.samples) if (s.name === name) out.set(s.labels[label] ?? '', (out.get(s.labels[label] ?? '') ?? 0) + s.value);
    return out;
  }
}

export async function scrapeMetrics(httpPort: number): Promise<MetricsScrape> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return MetricsScrape.parse(await response.text(), performance.now());
}

// ---------------------------------------------------------------- the server

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface RunningServer {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly grpcPort: number;
  readonly otlpHttpPort: number;
  readonly httpPort: number;
  readonly dbPath: string;
  /** The last log lines (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** Temporary directory: config, database and keys go here, and it is the server's cwd. */
  readonly dir: string;
  /** An existing store to serve instead of a new one in `dir`. */
  readonly dbPath?: string;
  readonly synchronous: 'full' | 'normal';
  /** Config sections merged over the generated base (e.g. { runs: { settle_ms: 500 } }). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Dotted-path overrides applied last. */
  readonly overrides?: ReadonlyArray<readonly [path: string, value: unknown]>;
  /** Directory for `node --cpu-prof` (main thread and worker threads each write a profile there). */
  readonly profDir?: string;
  /** Where memory-probe.cts writes the server's memory at its peak (JSON), when given. */
  readonly memoryFile?: string;
  readonly onExit?: (child: ChildProcess) => void;
  /** Called as soon as the process is spawned (e.g. to track it for killing). */
  readonly onSpawn?: (child: ChildProcess) => void;
  /** How long the server may take to listen (default 30 s) and to stop after SIGTERM (default 60 s). */
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** Where the server's start-up progress is told. */
  readonly log?: (message: string) => void;
}

/** Starts runledger on 127.0.0.1 (gRPC and HTTP on ephemeral ports); resolves once both listen. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const dbPath = options.dbPath ?? join(options.dir, 'runledger.db');
  const configPath = join(options.dir, 'runledger.yaml');
  const config: Record<string, unknown> = {
    receiver: {
      otlp_grpc: { endpoint: '127.0.0.1:0', max_recv_msg_size_mib: 64 },
      otlp_http: { endpoint: '127.0.0.1:0', max_recv_msg_size_mib: 64 },
    },
    http: { endpoint: '127.0.0.1:0' },
    storage: { sqlite: { path: dbPath, synchronous: options.synchronous } },
    integrity: { signing_key_file: join(options.dir, 'signing-key.pem') },
    redaction: { hmac_key_file: join(options.dir, 'redaction-hmac.key') },
    telemetry: { logs: { level: 'info' } },
    ...options.config,
  };
  for (const [path, value] of options.overrides ?? []) setPath(config, path.split('.'), value);
  writeFileSync(configPath, stringify(config));
  let httpPort: number | undefined;
  let grpcPort: number | undefined;
  const listening = await spawnListening({
    args: [...profArgs(options.profDir), ...(options.memoryFile === undefined ? [] : ['--require', MEMORY_PROBE]), MAIN, 'serve', '--config', configPath],
    cwd: options.dir,
    env: {
      // The config file decides: environment overrides of the endpoints or the store would not.
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RUNLEDGER_'))),
      ...(options.memoryFile === undefined ? {} : { RUNLEDGER_BENCH_MEMORY_FILE: options.memoryFile }),
    },
    label: 'runledger',
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
    stopTimeoutMs: options.stopTimeoutMs ?? 60_000,
    ...(options.onExit === undefined ? {} : { onExit: options.onExit }),
    ...(options.onSpawn === undefined ? {} : { onSpawn: options.onSpawn }),
    ...(options.log === undefined ? {} : { log: options.log }),
    onLogLine: (entry) => {
      if (entry.msg === 'HTTP server listening' && typeof entry.port === 'number') httpPort = entry.port;
      if (entry.msg === 'OTLP/gRPC receiver listening' && typeof entry.port === 'number') grpcPort = entry.port;
      // The OTLP/HTTP receiver starts last: once it listens, start() is done.
      if (entry.msg === 'OTLP/HTTP receiver listening' && typeof entry.port === 'number') {
        if (httpPort === undefined || grpcPort === undefined) return new Error('runledger listened for OTLP/HTTP before its other ports');
        return { grpcPort, otlpHttpPort: entry.port, httpPort };
      }
      return undefined;
    },
  });
  return { ...listening.value, child: listening.child, pid: listening.pid, dbPath, output: listening.output, stop: listening.stop };
}

/** The node options that write CPU profiles into `profDir` (none without one). */
export function profArgs(profDir: string | undefined): string[] {
  return profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
}

export interface ListeningProcess<T> {
  readonly child: ChildProcess;
  readonly pid: number;
  /** What `onLogLine` returned once the process listened (ports). */
  readonly value: T;
  /** The last log lines (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after the stop timeout; a non-zero exit is reported with the last output. */
  stop(): Promise<void>;
}

export interface SpawnListeningOptions<T> {
  /** node's arguments (the script and its options). */
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The process's name in error messages. */
  readonly label: string;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly onExit?: (child: ChildProcess) => void;
  readonly onSpawn?: (child: ChildProcess) => void;
  /** Where a non-zero exit on stop is reported (default: stderr, prefixed [bench]). */
  readonly log?: (message: string) => void;
  /** Each JSON log line on stdout: a value once listening, an Error to give up, undefined to read on. */
  readonly onLogLine: (entry: { msg?: unknown; port?: unknown }) => T | Error | undefined;
}

/** Spawns `node ...args` and resolves once a JSON log line on its stdout says it listens. */
export function spawnListening<T>(options: SpawnListeningOptions<T>): Promise<ListeningProcess<T>> {
  const log = options.log ?? ((message: string) => process.stderr.write(`[bench] ${message}\n`));
  // cwd: the temporary directory, so files at relative default paths (./data/...) stay out of the project.
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    ...(options.env === undefined ? {} : { env: options.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  options.onSpawn?.(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.finally(() => options.onExit?.(child)).catch(() => undefined);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stderr!.on('data', keep);
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.label} did not start within ${options.startTimeoutMs / 1000} s:\n${output}`));
    }, options.startTimeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${options.label} exited (${code ?? signal}) before listening:\n${output}`));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let entry: { msg?: unknown; port?: unknown };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          continue; // not a JSON log line
        }
        const value = options.onLogLine(entry);
        if (value === undefined) continue;
        clearTimeout(timer);
        if (value instanceof Error) {
          child.kill('SIGKILL');
          reject(value);
          return;
        }
        resolve({
          child,
          pid: child.pid!,
          value,
          output: () => output,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), options.stopTimeoutMs);
            await exited;
            clearTimeout(killer);
            if (child.exitCode !== 0) log(`${options.label} exited with ${child.exitCode ?? child.signalCode}:\n${output.slice(-2000)}`);
          },
        });
      }
    });
  });
}

// ---------------------------------------------------------------- the benchmark process

/** Child processes (servers, generators) killed when the benchmark exits, is interrupted or gives up. */
export const children = new Set<ChildProcess>();

export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export function killChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** Kills every child and exits, once `budgetMs` has passed (a hard bound on the whole run). */
export function giveUpAfter(budgetMs: number, log: (message: string) => void, seconds: string = String(budgetMs / 1000)): void {
  setTimeout(() => {
    log(`giving up after ${seconds} s`);
    killChildren();
    process.exit(1);
  }, budgetMs).unref();
}

/** Runs a benchmark's main(): children die with it, and a failure is logged with exit code 1. */
export async function runBenchmark(main: () => Promise<void>, log: (message: string) => void): Promise<void> {
  process.on('exit', killChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killChildren();
      process.exit(130);
    });
  }
  try {
    await main();
  } catch (err) {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  }
}

/** Peak RSS of a process, polled every 100 ms until stopped. */
export function pollPeakRss(pid: number): { peakKb(): number; stop(): void } {
  let peakRssKb = 0;
  const poll = setInterval(() => {
    const { rssKb } = procStatus(pid);
    if (rssKb > peakRssKb) peakRssKb = rssKb;
  }, 100);
  return { peakKb: () => peakRssKb, stop: () => clearInterval(poll) };
}
