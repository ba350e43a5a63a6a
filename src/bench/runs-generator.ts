/**
 * Load generator of `npm run bench:runs` (runs.ts), forked into its own process like load-generator.ts
 * and driven the same way (a raw grpc-js client, identity serializers, N Export calls in flight over
 * 127.0.0.1, the same IPC messages), but sending the runs workload (runs-workload.ts). Two modes:
 *
 *   timed: `--warmup` + `--seconds` of load with `--inflight` calls in flight; reports `ready`,
 *          `timed-start`, `timed-end` and `result` (spans and runs acknowledged in the window).
 *   count: rootless runs (`--orphan-spans` children each) up to each of `--checkpoints`, at most
 *          `--rate` spans/s; at each checkpoint it reports `checkpoint` and waits for `continue`.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ExportTraceServiceResponse, TRACE_SERVICE_EXPORT_PATH } from '../otlp/proto.js';
// Types only: importing load-generator.js itself would run its main().
import type { GeneratorReady, GeneratorResult, LatencySummary } from './load-generator.js';
import { buildRunsRequest, type RunsRequest } from './runs-workload.js';
import { stampRequest } from './workload.js';

export interface RunsGeneratorResult extends GeneratorResult {
  readonly runsAcked: number;
}

export interface RunsGeneratorReady extends GeneratorReady {
  readonly meanRunsPerRequest: number;
  readonly meanSpansPerRun: number;
  /** Share of spans by step kind over the pool. */
  readonly stepShares: Readonly<Record<string, number>>;
}

export interface CheckpointReport {
  readonly runs: number;
  readonly spans: number;
  readonly failedRequests: number;
  readonly seconds: number;
}

export type RunsGeneratorMessage =
  | { type: 'ready'; ready: RunsGeneratorReady }
  | { type: 'timed-start' }
  | { type: 'timed-end' }
  | { type: 'checkpoint'; checkpoint: CheckpointReport }
  | { type: 'result'; result: RunsGeneratorResult }
  | { type: 'error'; message: string };

export type RunsGeneratorCommand = { type: 'continue' };

const CALL_DEADLINE_MS = 30_000;
const identity = (b: Buffer): Buffer => b;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** As load-generator.ts summarises acknowledgement latencies. */
function summarize(latenciesMs: number[]): LatencySummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  const rank = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    p50Ms: rank(0.5),
    p90Ms: rank(0.9),
    p99Ms: rank(0.99),
    maxMs: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    meanMs: sorted.length === 0 ? NaN : sum / sorted.length,
  };
}

function send(message: RunsGeneratorMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve());
    else process.send(message, undefined, {}, () => resolve());
  });
}

interface CallOutcome {
  readonly code: grpc.status;
  readonly details: string;
  readonly response: Buffer | undefined;
}

function exportCall(client: grpc.Client, body: Buffer): Promise<CallOutcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      TRACE_SERVICE_EXPORT_PATH,
      identity,
      identity,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (err, response) => {
        if (err) resolve({ code: err.code, details: err.details, response: undefined });
        else resolve({ code: grpc.status.OK, details: '', response });
      },
    );
  });
}

function rejectedIn(response: Buffer | undefined): number {
  if (response === undefined || response.length === 0) return 0;
  const decoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(response), { longs: Number }) as {
    partialSuccess?: { rejectedSpans?: number };
  };
  return decoded.partialSuccess?.rejectedSpans ?? 0;
}

function waitForReady(client: grpc.Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()));
  });
}

function nextCommand(): Promise<RunsGeneratorCommand> {
  return new Promise((resolve) => process.once('message', (m: RunsGeneratorCommand) => resolve(m)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      mode: { type: 'string', default: 'timed' },
      seconds: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '2' },
      inflight: { type: 'string', default: '8' },
      pool: { type: 'string', default: '32' },
      seed: { type: 'string', default: '1' },
      'min-spans': { type: 'string', default: '5' },
      'max-spans': { type: 'string', default: '50' },
      'spans-per-request': { type: 'string', default: '512' },
      'orphan-spans': { type: 'string', default: '2' },
      checkpoints: { type: 'string', default: '10000,100000' },
      rate: { type: 'string', default: '20000' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error('--port is required');
  const mode = values.mode;
  if (mode !== 'timed' && mode !== 'count') throw new Error('--mode must be timed or count');
  const inflight = Number(values.inflight);
  const poolSize = Number(values.pool);
  const seed = Number(values.seed);
  const shape = {
    minSpansPerRun: Number(values['min-spans']),
    maxSpansPerRun: Number(values['max-spans']),
    spansPerRequest: Number(values['spans-per-request']),
    ...(mode === 'count' ? { orphanSpansPerRun: Number(values['orphan-spans']) } : {}),
  };

  const encodeStart = performance.now();
  const pool: RunsRequest[] = [];
  for (let i = 0; i < poolSize; i++) pool.push(buildRunsRequest(shape, i, seed));
  const encodeMs = performance.now() - encodeStart;
  const maxBytes = Math.max(...pool.map((r) => r.bytes.length));
  const totalSpans = pool.reduce((a, r) => a + r.spans, 0);
  const totalRuns = pool.reduce((a, r) => a + r.runs, 0);
  const steps: Record<string, number> = {};
  for (const r of pool) for (const [k, n] of Object.entries(r.stepCounts)) steps[k] = (steps[k] ?? 0) + n;
  await send({
    type: 'ready',
    ready: {
      poolSize,
      spansPerRequest: totalSpans / pool.length,
      meanRequestBytes: pool.reduce((a, r) => a + r.bytes.length, 0) / pool.length,
      meanAttributeBytes: pool.reduce((a, r) => a + r.meanAttributeBytes, 0) / pool.length,
      encodeMs,
      meanRunsPerRequest: totalRuns / pool.length,
      meanSpansPerRun: totalSpans / totalRuns,
      stepShares: Object.fromEntries(Object.entries(steps).map(([k, n]) => [k, n / totalSpans])),
    },
  });

  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
  await waitForReady(client, 10_000);
  if (mode === 'timed') await timed(client, pool, maxBytes, inflight, Number(values.seconds), Number(values.warmup));
  else await counted(client, pool, maxBytes, inflight, values.checkpoints.split(',').map(Number), Number(values.rate));
  client.close();
}

async function timed(client: grpc.Client, pool: readonly RunsRequest[], maxBytes: number, inflight: number, seconds: number, warmup: number): Promise<void> {
  const t0 = performance.now();
  const timedStart = t0 + warmup * 1000;
  const timedEnd = timedStart + seconds * 1000;
  let cpuAtStart = process.cpuUsage();
  let cpuAtEnd = cpuAtStart;
  const sentAt = new Float64Array(inflight).fill(NaN);
  let oldestUnansweredMs = 0;
  const startTimer = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    void send({ type: 'timed-start' });
  }, timedStart - t0);
  const endTimer = setTimeout(() => {
    cpuAtEnd = process.cpuUsage(cpuAtStart);
    const now = performance.now();
    for (const t of sentAt) if (!Number.isNaN(t)) oldestUnansweredMs = Math.max(oldestUnansweredMs, now - t);
    void send({ type: 'timed-end' });
  }, timedEnd - t0);

  let sequence = 1n;
  let totalCalls = 0;
  let okRequests = 0;
  let spansAcked = 0;
  let runsAcked = 0;
  let spansRejected = 0;
  let failedRequests = 0;
  let bytesSent = 0;
  const errors: Record<string, number> = {};
  const errorSamples: Record<string, string> = {};
  const latencies: number[] = [];
  const timeline = Array.from({ length: Math.ceil(seconds) }, () => ({ spans: 0, maxMs: 0 }));

  const slot = async (index: number) => {
    const buffer = Buffer.allocUnsafe(maxBytes);
    let next = index;
    while (performance.now() < timedEnd) {
      const template = pool[next % pool.length]!;
      next += inflight;
      const body = stampRequest(template, buffer, sequence++);
      totalCalls++;
      const sent = performance.now();
      sentAt[index] = sent;
      const outcome = await exportCall(client, body);
      sentAt[index] = NaN;
      const answered = performance.now();
      if (outcome.code !== grpc.status.OK) await sleep(50);
      if (answered < timedStart || answered > timedEnd) continue;
      if (outcome.code === grpc.status.OK) {
        const rejected = rejectedIn(outcome.response);
        okRequests++;
        spansAcked += template.spans - rejected;
        if (rejected === 0) runsAcked += template.runs;
        spansRejected += rejected;
        bytesSent += body.length;
        latencies.push(answered - sent);
        const bucket = timeline[Math.min(timeline.length - 1, Math.floor((answered - timedStart) / 1000))]!;
        bucket.spans += template.spans - rejected;
        bucket.maxMs = Math.max(bucket.maxMs, answered - sent);
      } else {
        const name = grpc.status[outcome.code] ?? String(outcome.code);
        failedRequests++;
        errors[name] = (errors[name] ?? 0) + 1;
        errorSamples[name] ??= outcome.details;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, (_, i) => slot(i)));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  const cpuMicros = cpuAtEnd.user + cpuAtEnd.system;
  await send({
    type: 'result',
    result: {
      windowSeconds: seconds,
      okRequests,
      spansAcked,
      runsAcked,
      spansRejected,
      failedRequests,
      errors,
      errorSamples,
      latency: summarize(latencies),
      bytesSent,
      totalCalls,
      oldestUnansweredMs,
      generatorCpuPercent: (cpuMicros / 1e6 / seconds) * 100,
      timeline,
    },
  });
}

async function counted(
  client: grpc.Client,
  pool: readonly RunsRequest[],
  maxBytes: number,
  inflight: number,
  checkpoints: readonly number[],
  rate: number,
): Promise<void> {
  const started = performance.now();
  let sequence = 1n;
  let next = 0;
  let runsSent = 0;
  let spansSent = 0;
  let okRequests = 0;
  let spansAcked = 0;
  let runsAcked = 0;
  let spansRejected = 0;
  let failedRequests = 0;
  let bytesSent = 0;
  let paused = 0;
  const errors: Record<string, number> = {};
  const errorSamples: Record<string, string> = {};
  const latencies: number[] = [];
  for (const target of checkpoints) {
    const slot = async () => {
      const buffer = Buffer.allocUnsafe(maxBytes);
      while (runsSent < target) {
        const template = pool[next++ % pool.length]!;
        runsSent += template.runs;
        spansSent += template.spans;
        // At most `rate` spans/s, counted from the start (time paused at checkpoints excluded).
        const due = started + paused + (spansSent / rate) * 1000;
        if (due > performance.now()) await sleep(due - performance.now());
        const body = stampRequest(template, buffer, sequence++);
        const sent = performance.now();
        const outcome = await exportCall(client, body);
        latencies.push(performance.now() - sent);
        if (outcome.code === grpc.status.OK) {
          const rejected = rejectedIn(outcome.response);
          okRequests++;
          spansAcked += template.spans - rejected;
          if (rejected === 0) runsAcked += template.runs;
          spansRejected += rejected;
          bytesSent += body.length;
        } else {
          const name = grpc.status[outcome.code] ?? String(outcome.code);
          failedRequests++;
          errors[name] = (errors[name] ?? 0) + 1;
          errorSamples[name] ??= outcome.details;
          await sleep(50);
        }
      }
    };
    await Promise.all(Array.from({ length: inflight }, () => slot()));
    await send({ type: 'checkpoint', checkpoint: { runs: runsAcked, spans: spansAcked, failedRequests, seconds: (performance.now() - started - paused) / 1000 } });
    const pauseStart = performance.now();
    await nextCommand();
    paused += performance.now() - pauseStart;
  }
  const seconds = (performance.now() - started - paused) / 1000;
  const cpu = process.cpuUsage();
  await send({
    type: 'result',
    result: {
      windowSeconds: seconds,
      okRequests,
      spansAcked,
      runsAcked,
      spansRejected,
      failedRequests,
      errors,
      errorSamples,
      latency: summarize(latencies),
      bytesSent,
      totalCalls: okRequests + failedRequests,
      oldestUnansweredMs: 0,
      generatorCpuPercent: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
      timeline: [],
    },
  });
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  await send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
process.disconnect?.();
