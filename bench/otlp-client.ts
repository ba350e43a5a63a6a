/**
 * The core both load generators (load-generator.ts for bench:ingest, runs-generator.ts for bench:runs)
 * share: a raw grpc-js client on 127.0.0.1 with identity serializers (or a keep-alive OTLP/HTTP client
 * posting the same protobuf bodies), one OTLP Export call, the tally of
 * answers, the timed load (`--inflight` calls in flight for `--warmup` + `--seconds`), latency
 * percentiles, and the IPC messages to the parent process.
 *
 * Importing this module runs nothing (unlike the generators, which run their main() when loaded).
 */
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { ExportTraceServiceResponse, TRACE_SERVICE_EXPORT_PATH } from '../src/otlp/proto.js';
import { stampRequest, type EncodedRequest } from './workload.js';

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

/** A pre-encoded request; `runs` when the generator counts runs acknowledged. */
export interface Template extends EncodedRequest {
  readonly runs?: number;
}

/** The load options the generators take and the benchmarks pass on (parseArgs declarations, same defaults everywhere). */
export const LOAD_OPTIONS = {
  seconds: { type: 'string', default: '15' },
  warmup: { type: 'string', default: '2' },
  inflight: { type: 'string', default: '8' },
  seed: { type: 'string', default: '1' },
} as const;

const CALL_DEADLINE_MS = 30_000;
const identity = (b: Buffer): Buffer => b;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once the message is handed to the IPC channel (so disconnecting afterwards loses nothing). */
export function send(message: object): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve());
    } else {
      process.send(message, undefined, {}, () => resolve());
    }
  });
}

/** Runs a generator's main(); a failure is sent to the parent as an `error` message. */
export async function runGenerator(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    process.exitCode = 1;
    await send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
  process.disconnect?.();
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

export interface CallOutcome {
  readonly code: grpc.status;
  readonly details: string;
  readonly response: Buffer | undefined;
}

/** One Export call over some transport. */
export type ExportSender = (body: Buffer) => Promise<CallOutcome>;

export function exportCall(client: grpc.Client, body: Buffer): Promise<CallOutcome> {
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

/** OTLP/HTTP answers as the gRPC status of the same meaning, so one tally counts both transports. */
const GRPC_STATUS_OF_HTTP: Readonly<Record<number, grpc.status>> = {
  200: grpc.status.OK,
  400: grpc.status.INVALID_ARGUMENT,
  401: grpc.status.UNAUTHENTICATED,
  413: grpc.status.RESOURCE_EXHAUSTED,
  429: grpc.status.UNAVAILABLE,
  503: grpc.status.UNAVAILABLE,
};

/**
 * Export calls as POST /v1/traces (application/x-protobuf) to 127.0.0.1:`port`, over at most `sockets`
 * keep-alive connections: the same bodies the gRPC sender sends, as the OTel protobuf exporter posts them.
 */
export function httpExportSender(port: number, sockets: number): { send: ExportSender; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const send: ExportSender = (body) =>
    new Promise((resolve) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/traces',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
          timeout: CALL_DEADLINE_MS,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const answer = Buffer.concat(chunks);
            const code = GRPC_STATUS_OF_HTTP[response.statusCode ?? 0] ?? grpc.status.UNKNOWN;
            resolve(
              code === grpc.status.OK
                ? { code, details: '', response: answer }
                : { code, details: `HTTP ${response.statusCode}: ${answer.length} B status body`, response: undefined },
            );
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('deadline exceeded')));
      request.on('error', (err) => resolve({ code: grpc.status.UNAVAILABLE, details: `HTTP client: ${err.message}`, response: undefined }));
      request.end(body);
    });
  return { send, close: () => agent.destroy() };
}

function rejectedIn(response: Buffer | undefined): number {
  if (response === undefined || response.length === 0) return 0;
  const decoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(response), { longs: Number }) as {
    partialSuccess?: { rejectedSpans?: number };
  };
  return decoded.partialSuccess?.rejectedSpans ?? 0;
}

/** A raw client to 127.0.0.1:`port` (no message size limits), once its channel is ready (10 s at most). */
export async function connect(port: number): Promise<grpc.Client> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
  await new Promise<void>((resolve, reject) => {
    client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve()));
  });
  return client;
}

/** The answers counted: acknowledged spans (and runs, for templates that carry them), errors by status. */
export class CallTally {
  okRequests = 0;
  spansAcked = 0;
  runsAcked = 0;
  spansRejected = 0;
  failedRequests = 0;
  bytesSent = 0;
  readonly errors: Record<string, number> = {};
  readonly errorSamples: Record<string, string> = {};
  readonly latencies: number[] = [];

  /** Counts an OK answer; returns the spans it acknowledged. A run counts when none of its request's spans was rejected. */
  ok(template: Template, body: Buffer, response: Buffer | undefined): number {
    const rejected = rejectedIn(response);
    this.okRequests++;
    this.spansAcked += template.spans - rejected;
    if (rejected === 0) this.runsAcked += template.runs ?? 0;
    this.spansRejected += rejected;
    this.bytesSent += body.length;
    return template.spans - rejected;
  }

  failed(outcome: CallOutcome): void {
    const name = grpc.status[outcome.code] ?? String(outcome.code);
    this.failedRequests++;
    this.errors[name] = (this.errors[name] ?? 0) + 1;
    this.errorSamples[name] ??= outcome.details;
  }

  /** The result message; `runsAcked` only when `countRuns`. */
  result(
    countRuns: boolean,
    rest: { windowSeconds: number; totalCalls: number; oldestUnansweredMs: number; cpuMicros: number; timeline: GeneratorResult['timeline'] },
  ): GeneratorResult & { runsAcked?: number } {
    return {
      windowSeconds: rest.windowSeconds,
      okRequests: this.okRequests,
      spansAcked: this.spansAcked,
      ...(countRuns ? { runsAcked: this.runsAcked } : {}),
      spansRejected: this.spansRejected,
      failedRequests: this.failedRequests,
      errors: this.errors,
      errorSamples: this.errorSamples,
      latency: summarize(this.latencies),
      bytesSent: this.bytesSent,
      totalCalls: rest.totalCalls,
      oldestUnansweredMs: rest.oldestUnansweredMs,
      generatorCpuPercent: (rest.cpuMicros / 1e6 / rest.windowSeconds) * 100,
      timeline: rest.timeline,
    };
  }
}

/**
 * `inflight` Export calls in flight for `warmup` + `seconds` seconds, cycling through the pool with fresh
 * ids stamped into each send. Sends `timed-start` and `timed-end` at the window's edges; counts only the
 * answers inside it. Returns the tally and the figures of its `result` message.
 */
export async function timedLoad(
  exportOnce: ExportSender,
  pool: readonly Template[],
  /** `rate`: at most this many spans/s, counted from the start (unpaced when absent). */
  options: { readonly maxBytes: number; readonly inflight: number; readonly seconds: number; readonly warmup: number; readonly rate?: number },
): Promise<{ tally: CallTally; totalCalls: number; oldestUnansweredMs: number; cpuMicros: number; timeline: Array<{ spans: number; maxMs: number }> }> {
  const { maxBytes, inflight, seconds, warmup, rate } = options;
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
  let spansSent = 0;
  const tally = new CallTally();
  const timeline = Array.from({ length: Math.ceil(seconds) }, () => ({ spans: 0, maxMs: 0 }));

  const slot = async (index: number) => {
    const buffer = Buffer.allocUnsafe(maxBytes);
    let next = index;
    while (performance.now() < timedEnd) {
      const template = pool[next % pool.length]!;
      next += inflight;
      if (rate !== undefined) {
        const due = t0 + (spansSent / rate) * 1000;
        spansSent += template.spans;
        const now = performance.now();
        if (due > now) await sleep(due - now);
        if (performance.now() >= timedEnd) break;
      }
      const body = stampRequest(template, buffer, sequence++);
      totalCalls++;
      const sent = performance.now();
      sentAt[index] = sent;
      const outcome = await exportOnce(body);
      sentAt[index] = NaN;
      const answered = performance.now();
      // A failing server answers at once; do not spin on it.
      if (outcome.code !== grpc.status.OK) await sleep(50);
      if (answered < timedStart || answered > timedEnd) continue;
      if (outcome.code === grpc.status.OK) {
        const acked = tally.ok(template, body, outcome.response);
        tally.latencies.push(answered - sent);
        const bucket = timeline[Math.min(timeline.length - 1, Math.floor((answered - timedStart) / 1000))]!;
        bucket.spans += acked;
        bucket.maxMs = Math.max(bucket.maxMs, answered - sent);
      } else {
        tally.failed(outcome);
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, (_, i) => slot(i)));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  return { tally, totalCalls, oldestUnansweredMs, cpuMicros: cpuAtEnd.user + cpuAtEnd.system, timeline };
}
