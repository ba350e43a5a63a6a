/**
 * Load generator for `npm run bench:ingest`, run by ingest.ts in its own process (child_process.fork), so
 * that encoding and the client's gRPC work never share an event loop with the measurement's bookkeeping.
 *
 * Encodes a pool of requests first, then keeps `--inflight` Export calls in flight against
 * 127.0.0.1:`--port` for `--warmup` + `--seconds` seconds, over a raw grpc-js client (identity
 * serializers), or with `--transport http` as OTLP/HTTP protobuf posts. Reports to its parent over IPC: `ready`, `timed-start`, `timed-end`, then `result`.
 */
import { parseArgs } from 'node:util';
import { LOAD_OPTIONS, connect, exportCall, httpExportSender, runGenerator, send, timedLoad, type GeneratorReady, type GeneratorResult } from './otlp-client.js';
import { buildRequest, type EncodedRequest } from './workload.js';

export type GeneratorMessage =
  | { type: 'ready'; ready: GeneratorReady }
  | { type: 'timed-start' }
  | { type: 'timed-end' }
  | { type: 'result'; result: GeneratorResult }
  | { type: 'error'; message: string };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...LOAD_OPTIONS,
      port: { type: 'string' },
      transport: { type: 'string', default: 'grpc' },
      pool: { type: 'string', default: '64' },
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
  } satisfies GeneratorMessage);

  const sender =
    values.transport === 'http'
      ? httpExportSender(port, inflight)
      : await connect(port).then((client) => ({ send: (body: Buffer) => exportCall(client, body), close: () => client.close() }));
  const load = await timedLoad(sender.send, pool, { maxBytes, inflight, seconds, warmup });
  sender.close();

  const result: GeneratorResult = load.tally.result(false, { windowSeconds: seconds, ...load });
  await send({ type: 'result', result } satisfies GeneratorMessage);
}

await runGenerator(main);
