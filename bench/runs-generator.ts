/**
 * Load generator of `npm run bench:runs` (runs.ts), forked into its own process like load-generator.ts
 * and on the same core (otlp-client.ts: a raw grpc-js client, identity serializers, N Export calls in
 * flight over 127.0.0.1, the same IPC messages), but sending the runs workload (runs-workload.ts). Two modes:
 *
 *   timed: `--warmup` + `--seconds` of load with `--inflight` calls in flight, at most `--timed-rate`
 *          spans/s when given; reports `ready`, `timed-start`, `timed-end` and `result` (spans and
 *          runs acknowledged in the window).
 *   count: rootless runs (`--orphan-spans` children each) up to each of `--checkpoints`, at most
 *          `--rate` spans/s; at each checkpoint it reports `checkpoint` and waits for `continue`.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { CallTally, LOAD_OPTIONS, connect, exportCall, runGenerator, send, sleep, timedLoad, type GeneratorReady, type GeneratorResult } from './otlp-client.js';
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

function nextCommand(): Promise<RunsGeneratorCommand> {
  return new Promise((resolve) => process.once('message', (m: RunsGeneratorCommand) => resolve(m)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...LOAD_OPTIONS,
      port: { type: 'string' },
      mode: { type: 'string', default: 'timed' },
      pool: { type: 'string', default: '32' },
      'min-spans': { type: 'string', default: '5' },
      'max-spans': { type: 'string', default: '50' },
      'spans-per-request': { type: 'string', default: '512' },
      'orphan-spans': { type: 'string', default: '2' },
      checkpoints: { type: 'string', default: '10000,100000' },
      rate: { type: 'string', default: '20000' },
      'timed-rate': { type: 'string' },
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
  } satisfies RunsGeneratorMessage);

  const client = await connect(port);
  const timedRate = values['timed-rate'] === undefined ? undefined : Number(values['timed-rate']);
  if (mode === 'timed') await timed(client, pool, maxBytes, inflight, Number(values.seconds), Number(values.warmup), timedRate);
  else await counted(client, pool, maxBytes, inflight, values.checkpoints.split(',').map(Number), Number(values.rate));
  client.close();
}

async function timed(client: grpc.Client, pool: readonly RunsRequest[], maxBytes: number, inflight: number, seconds: number, warmup: number, rate?: number): Promise<void> {
  const load = await timedLoad((body) => exportCall(client, body), pool, { maxBytes, inflight, seconds, warmup, ...(rate !== undefined ? { rate } : {}) });
  const result = load.tally.result(true, { windowSeconds: seconds, ...load }) as RunsGeneratorResult;
  await send({ type: 'result', result } satisfies RunsGeneratorMessage);
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
  let paused = 0;
  const tally = new CallTally();
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
        tally.latencies.push(performance.now() - sent);
        if (outcome.code === grpc.status.OK) {
          tally.ok(template, body, outcome.response);
        } else {
          tally.failed(outcome);
          await sleep(50);
        }
      }
    };
    await Promise.all(Array.from({ length: inflight }, () => slot()));
    await send({ type: 'checkpoint', checkpoint: { runs: tally.runsAcked, spans: tally.spansAcked, failedRequests: tally.failedRequests, seconds: (performance.now() - started - paused) / 1000 } });
    const pauseStart = performance.now();
    await nextCommand();
    paused += performance.now() - pauseStart;
  }
  const seconds = (performance.now() - started - paused) / 1000;
  const cpu = process.cpuUsage();
  const result = tally.result(true, {
    windowSeconds: seconds,
    totalCalls: tally.okRequests + tally.failedRequests,
    oldestUnansweredMs: 0,
    cpuMicros: cpu.user + cpu.system,
    timeline: [],
  }) as RunsGeneratorResult;
  await send({ type: 'result', result } satisfies RunsGeneratorMessage);
}

await runGenerator(main);
