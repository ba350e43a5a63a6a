/**
 * Load generator for `npm run bench:ingest`, run by ingest.ts in its own process (child_process.fork), so
 * that encoding and the client's gRPC work never share an event loop with the measurement's bookkeeping.
 *
 * Encodes a pool of requests first, then keeps `--inflight` Export calls in flight against
 * 127.0.0.1:`--port` for `--warmup` + `--seconds` seconds, over a raw grpc-js client (identity
 * serializers). Reports to its parent over IPC: `ready`, `timed-start`, `timed-end`, then `result`.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ExportTraceServiceResponse, TRACE_SERVICE_EXPORT_PATH } from '../otlp/proto.js';
import { buildRequest, stampRequest, type EncodedRequest } from './workload.js';

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export interface GeneratorResult {
  /** Length of the timed window actually measured, in seconds. */
  readonly windowSeconds: number;
  /** Calls answered OK in the timed window, and their spans minus any partial_success rejections. */
  readonly okRequests: number;
  readonly spansAcked: number;
  readonly spansRejected: number;
  readonly failedRequests: number;
  /** gRPC status name → calls answered with it in the timed window (OK excluded). */
  readonly errors: Record<string, number>;
  /** First message seen for each error status. */
  readonly errorSamples: Record<string, string>;
  readonly latency: LatencySummary;
  readonly bytesSent: number;
  /** Calls sent over the whole run (warm-up and drain included). */
  readonly totalCalls: number;
  /** Age of the oldest call still unanswered when the window closed (not in the percentiles). */
  readonly oldestUnansweredMs: number;
  readonly generatorCpuPercent: number;
  /** Per second of the timed window: spans acknowledged and the slowest acknowledgement. */
  readonly timeline: ReadonlyArray<{ readonly spans: number; readonly maxMs: number }>;
}

export interface GeneratorReady {
  readonly poolSize: number;
  readonly spansPerRequest: number;
  readonly meanRequestBytes: number;
  readonly meanAttributeBytes: number;
  readonly encodeMs: number;
}

export type GeneratorMessage =
  | { type: 'ready'; ready: GeneratorReady }
  | { type: 'timed-start' }
  | { type: 'timed-end' }
  | { type: 'result'; result: GeneratorResult }
  | { type: 'error'; message: string };

const CALL_DEADLINE_MS = 30_000;
const identity = (b: Buffer): Buffer => b;

/** Resolves once the message is handed to the IPC channel (so disconnecting afterwards loses nothing). */
function send(message: GeneratorMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve());
    } else {
      process.send(message, undefined, {}, () => resolve());
    }
  });
}

export function summarize(latenciesMs: number[]): LatencySummary {
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      seconds: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '2' },
      inflight: { type: 'string', default: '8' },
      pool: { type: 'string', default: '64' },
      seed: { type: 'string', default: '1' },
      'spans-per-request': { type: 'string', default: '512' },
      'attributes-per-span': { type: 'string', default: '12' },
      'spans-per-run': { type: 'string', default: '16' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error('--port is required');
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const inflight = Number(values.inflight);
  const poolSize = Number(values.pool);
  const seed = Number(values.seed);
  const shape = {
    spansPerRequest: Number(values['spans-per-request']),
    attributesPerSpan: Number(values['attributes-per-span']),
    spansPerRun: Number(values['spans-per-run']),
  };

  // Untimed: encode the pool.
  const encodeStart = performance.now();
  const pool: EncodedRequest[] = [];
  for (let i = 0; i < poolSize; i++) pool.push(buildRequest(shape, i, seed));
  const encodeMs = performance.now() - encodeStart;
  const maxBytes = Math.max(...pool.map((r) => r.bytes.length));
  const meanRequestBytes = pool.reduce((a, r) => a + r.bytes.length, 0) / pool.length;
  await send({
    type: 'ready',
    ready: {
      poolSize,
      spansPerRequest: pool[0]!.spans,
      meanRequestBytes,
      meanAttributeBytes: pool.reduce((a, r) => a + r.meanAttributeBytes, 0) / pool.length,
      encodeMs,
    },
  });

  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
  await waitForReady(client, 10_000);

  const t0 = performance.now();
  const timedStart = t0 + warmup * 1000;
  const timedEnd = timedStart + seconds * 1000;
  let cpuAtStart = process.cpuUsage();
  let cpuAtEnd = cpuAtStart;
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
  let spansRejected = 0;
  let failedRequests = 0;
  let bytesSent = 0;
  const sentAt = new Float64Array(inflight).fill(NaN);
  let oldestUnansweredMs = 0;
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
      // A failing server answers at once; do not spin on it.
      if (outcome.code !== grpc.status.OK) await sleep(50);
      if (answered < timedStart || answered > timedEnd) continue;
      if (outcome.code === grpc.status.OK) {
        const rejected = rejectedIn(outcome.response);
        okRequests++;
        spansAcked += template.spans - rejected;
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
  client.close();

  const windowSeconds = seconds;
  const cpuMicros = cpuAtEnd.user + cpuAtEnd.system;
  await send({
    type: 'result',
    result: {
      windowSeconds,
      okRequests,
      spansAcked,
      spansRejected,
      failedRequests,
      errors,
      errorSamples,
      latency: summarize(latencies),
      bytesSent,
      totalCalls,
      oldestUnansweredMs,
      generatorCpuPercent: (cpuMicros / 1e6 / windowSeconds) * 100,
      timeline,
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
