import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { PATIENCE_MS } from './patience.js';

export const MAIN = resolve(import.meta.dirname, '../../dist/main.js');

export interface RunledgerProcess {
  readonly child: ChildProcess;
  readonly dir: string;
  readonly dbPath: string;
  readonly configPath: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The OTLP/HTTP receiver's port, and its traces URL (`http://127.0.0.1:PORT/v1/traces`). */
  readonly otlpHttpPort: number;
  readonly otlpHttpUrl: string;
  readonly grpcUrl: string;
  readonly httpUrl: string;
  /** Every log line so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  readonly stdout: () => string;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface StartOptions {
  /** Config merged over the test defaults (ports 0 on 127.0.0.1, db and keys in a temp dir). */
  readonly config?: Record<string, unknown>;
  /** Reuse a directory (and its database), e.g. for a restart. */
  readonly dir?: string;
  readonly env?: Record<string, string>;
}

/** Starts `node dist/main.js serve` as a real process on free ports and waits until it listens. */
export async function startRunledger(options: StartOptions = {}): Promise<RunledgerProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'runledger-e2e-'));
  const dbPath = join(dir, 'runledger.db');
  const config = deepMerge(
    {
      receiver: { otlp_grpc: { endpoint: '127.0.0.1:0' }, otlp_http: { endpoint: '127.0.0.1:0' } },
      http: { endpoint: '127.0.0.1:0' },
      storage: { sqlite: { path: dbPath } },
      // Keys in the test's directory, not ./data shared by every test file running at once.
      integrity: { signing_key_file: join(dir, 'signing-key.pem') },
      redaction: { hmac_key_file: join(dir, 'redaction-hmac.key') },
      telemetry: { logs: { level: 'info' } },
    },
    options.config ?? {},
  );
  const configPath = join(dir, 'runledger.yaml');
  writeFileSync(configPath, stringify(config));
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', configPath], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let out = '';
  let buffered = '';
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const ports = await new Promise<{ grpc: number; http: number; otlpHttp: number }>((resolvePorts, reject) => {
    let grpc = 0;
    let http = 0;
    let otlpHttp = 0;
    const timer = setTimeout(() => reject(new Error(`runledger did not start:\n${out}`)), PATIENCE_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`runledger exited with ${code} before listening:\n${out}`));
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'OTLP/gRPC receiver listening') grpc = entry.port as number;
          if (entry.msg === 'HTTP server listening') http = entry.port as number;
          if (entry.msg === 'OTLP/HTTP receiver listening') otlpHttp = entry.port as number;
          if (grpc && http && otlpHttp) {
            clearTimeout(timer);
            resolvePorts({ grpc, http, otlpHttp });
          }
        } catch {
          logs.push({ raw: line }); // not JSON: keep it for the assertion messages
        }
      }
    });
  });
  // 'close' (not 'exit') fires once stdout is drained, so the last log lines are in `logs`.
  const exited = new Promise<number | string>((resolveExit) =>
    child.on('close', (code, signal) => resolveExit(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    dir,
    dbPath,
    configPath,
    grpcPort: ports.grpc,
    httpPort: ports.http,
    otlpHttpPort: ports.otlpHttp,
    otlpHttpUrl: `http://127.0.0.1:${ports.otlpHttp}/v1/traces`,
    grpcUrl: `http://127.0.0.1:${ports.grpc}`,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    logs,
    stdout: () => out,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] =
      isObject(prev) && isObject(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The first log line `match` accepts, waiting for it: a worker thread's lines reach the process's
 * stdout through the main thread, so they may come after the server already answers.
 */
export async function waitForLog(
  p: RunledgerProcess,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = PATIENCE_MS,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = p.logs.find(match);
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no matching log line after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
