/**
 * `npm run bench:console [-- options]`: a printed benchmark (never a test) of the web console's pages.
 *
 * Takes the query benchmark's store of N evaluated runs (query-store.ts, built once and cached), copies
 * it, starts the real runledger on the copy, sends one run of S spans over OTLP/gRPC and waits until it
 * is judged. Then times, sequentially from this process, the whole answer (request sent to last byte)
 * of the runs page `/` in several shapes and of that run's page `/runs/{id}`, and prints p50/p99/max
 * and the page sizes against the targets: the runs page under 300 ms on 100,000 runs, a 3,000-span
 * run page under 1 s. Figures are absolute: on a busy machine read them with the load in mind.
 *
 * Options: --runs N (100000)  --spans N (3000)  --seed N (1)  --requests N (40 per shape)
 *          --warmup N (3 per shape)  --dir DIR (os tmpdir: the cached store)  --rebuild
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ExportTraceServiceRequest } from '../src/otlp/proto.js';
import { connect, exportCall } from './otlp-client.js';
import { ensureStore, type StoreMeta } from './query-store.js';
import { integer, machineLine, table } from './report.js';
import { procStatus, runBenchmark, startServer, track } from './server-process.js';
import { keyValues, Rng } from './workload.js';

const TARGET_RUNS_PAGE_MS = 300;
const TARGET_RUN_PAGE_MS = 1000;

const log = (message: string) => process.stderr.write(`[bench:console] ${message}\n`);

interface Settings {
  readonly runs: number;
  readonly spans: number;
  readonly seed: number;
  readonly requests: number;
  readonly warmup: number;
  readonly dir: string;
  readonly rebuild: boolean;
}

function parseSettings(): Settings {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '100000' },
      spans: { type: 'string', default: '3000' },
      seed: { type: 'string', default: '1' },
      requests: { type: 'string', default: '40' },
      warmup: { type: 'string', default: '3' },
      dir: { type: 'string', default: tmpdir() },
      rebuild: { type: 'boolean', default: false },
    },
  });
  return {
    runs: integer('runs', values.runs, 1_000, 20_000_000),
    spans: integer('spans', values.spans, 2, 9_999),
    seed: integer('seed', values.seed, 0, 2 ** 31),
    requests: integer('requests', values.requests, 1, 10_000),
    warmup: integer('warmup', values.warmup, 0, 1_000),
    dir: values.dir,
    rebuild: values.rebuild,
  };
}

/**
 * One secret rotation of `count` spans: a root, a policy decision, and below it batches of work (tool
 * calls, changes, a few failed attempts retried, plain spans), nested three deep, as a long agent
 * task or a bulk rotation would export it.
 */
function bigRunRequest(runId: string, count: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const traceId = Buffer.from(rng.hex(32), 'hex');
  const id = () => Buffer.from(rng.hex(16), 'hex');
  const startNs = BigInt(Date.now() - 120_000) * 1_000_000n;
  const rootId = id();
  const span = (spanId: Buffer, parent: Buffer | undefined, name: string, offsetUs: number, durationUs: number, attrs: Array<readonly [string, string | number]>, failed = false) => ({
    traceId,
    spanId,
    ...(parent !== undefined ? { parentSpanId: parent } : {}),
    name,
    kind: 1,
    startTimeUnixNano: (startNs + BigInt(offsetUs) * 1000n).toString(),
    endTimeUnixNano: (startNs + BigInt(offsetUs + durationUs) * 1000n).toString(),
    attributes: keyValues(failed ? [...attrs, ['error.type', 'connector_timeout']] : attrs),
    status: { code: failed ? 2 : 1 },
  });
  const spans = [
    span(rootId, undefined, 'workflow bulk-rotate', 0, count * 100 + 1000, [
      ['nhi.workflow.run.id', runId],
      ['nhi.workflow.name', 'bulk-rotate-service-credentials'],
      ['nhi.workflow.kind', 'secret_rotation'],
      ['nhi.workflow.result', 'success'],
      ['nhi.trigger.kind', 'schedule'],
      ['nhi.actor.id', 'system:serviceaccount:secrets:bulk-rotator'],
      ['nhi.actor.type', 'service_account'],
    ]),
    span(id(), rootId, 'policy rotation.window', 10, 40, [['nhi.policy.id', 'rotation.window'], ['nhi.policy.decision', 'allow']]),
  ];
  const operations = ['create', 'distribute', 'verify', 'revoke'];
  let batch: Buffer = rootId;
  for (let i = spans.length; i < count; i++) {
    const offset = 100 + i * 100;
    if (i % 50 === 2) {
      batch = id();
      spans.push(span(batch, rootId, `batch ${Math.floor(i / 50)}`, offset, 4900, [['batch.index', Math.floor(i / 50)]]));
      continue;
    }
    const target = `vault:kv/services/svc-${i % 400}#v${2 + (i % 7)}`;
    if (i % 5 === 0) spans.push(span(id(), batch, `execute_tool lookup_consumers`, offset, 60, [['gen_ai.operation.name', 'execute_tool'], ['gen_ai.tool.name', 'lookup_consumers']]));
    else if (i % 5 === 1) spans.push(span(id(), batch, `HTTP GET /v1/secrets`, offset, 30, [['http.request.method', 'GET'], ['url.path', '/v1/secrets']]));
    else {
      const operation = operations[i % operations.length]!;
      spans.push(span(id(), batch, `${operation} ${target}`, offset, 80, [['nhi.change.operation', operation], ['nhi.change.target', target]], i % 97 === 3));
    }
  }
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: [{ resource: { attributes: keyValues([['service.name', 'bulk-rotator']]) }, scopeSpans: [{ scope: { name: 'bench' }, spans }] }],
  });
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}

interface Timed {
  readonly name: string;
  readonly times: number[];
  readonly bytes: number;
  readonly status: number;
}

async function timePage(base: string, name: string, path: string, settings: Settings): Promise<Timed> {
  const times: number[] = [];
  let bytes = 0;
  let status = 0;
  for (let i = 0; i < settings.warmup + settings.requests; i++) {
    const started = performance.now();
    const response = await fetch(`${base}${path}`);
    const body = await response.arrayBuffer();
    const ms = performance.now() - started;
    status = response.status;
    bytes = body.byteLength;
    if (i >= settings.warmup) times.push(ms);
  }
  return { name, times, bytes, status };
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const settings = parseSettings();
  const store = await ensureStore({ runs: settings.runs, seed: settings.seed, dir: settings.dir, rebuild: settings.rebuild, log });
  const dir = mkdtempSync(join(tmpdir(), 'runledger-bench-console-'));
  try {
    // A copy: the server writes its chain_start and the big run, and the cached store stays as built.
    const dbPath = join(dir, 'runledger.db');
    for (const suffix of ['', '-wal']) if (existsSync(`${store.path}${suffix}`)) copyFileSync(`${store.path}${suffix}`, `${dbPath}${suffix}`);
    const server = await startServer({
      dir,
      synchronous: 'full',
      config: { runs: { settle_ms: 300 } },
      onSpawn: track,
      log,
      startTimeoutMs: 60_000,
      stopTimeoutMs: 30_000,
    });
    try {
      const base = `http://127.0.0.1:${server.httpPort}`;
      const runId = `bench-console-${settings.spans}-spans`;
      const client = await connect(server.grpcPort);
      const outcome = await exportCall(client, bigRunRequest(runId, settings.spans, settings.seed));
      client.close();
      if (outcome.code !== 0) throw new Error(`the ${settings.spans}-span run was refused: ${outcome.details}`);
      const judgedBy = Date.now() + 60_000;
      for (;;) {
        const response = await fetch(`${base}/api/v1/runs/${runId}`);
        const run = response.ok ? ((await response.json()) as { revision: number; span_count?: number }) : undefined;
        if (run !== undefined && run.revision >= 1) {
          if (run.span_count !== settings.spans) throw new Error(`the run was judged with ${run.span_count} spans, not ${settings.spans}`);
          break;
        }
        if (Date.now() > judgedBy) throw new Error('the big run was not judged within 60 s');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      log(`store of ${store.meta.runs} runs ready, ${settings.spans}-span run judged; timing`);

      const meta: StoreMeta = store.meta;
      const firstPage = (await (await fetch(`${base}/api/v1/runs?limit=50`)).json()) as { next_cursor: string | null };
      const runsShapes: Array<[string, string]> = [
        ['/ (no filter)', '/'],
        ['/?status=violation', '/?status=violation'],
        ['/?workflow=popular', `/?workflow=${encodeURIComponent(meta.workflows[0]!.name)}`],
        ['/?finding=common&status=incomplete', `/?finding=${meta.findings[0]!.name}&status=incomplete`],
        ['/?actor=median', `/?actor=${encodeURIComponent(meta.medianActor.name)}`],
        ['/ page 2 (cursor)', `/?cursor=${firstPage.next_cursor ?? ''}`],
      ];
      const runsPages: Timed[] = [];
      for (const [name, path] of runsShapes) runsPages.push(await timePage(base, name, path, settings));
      const runPage = await timePage(base, `/runs/{${settings.spans}-span run}`, `/runs/${runId}`, settings);
      const rows = [...runsPages, runPage].map((t) => {
        const sorted = [...t.times].sort((a, b) => a - b);
        return [t.name, String(t.status), `${(t.bytes / 1024).toFixed(0)} KiB`, percentile(sorted, 50).toFixed(1), percentile(sorted, 99).toFixed(1), sorted.at(-1)!.toFixed(1)];
      });
      const worstRunsP99 = Math.max(...runsPages.map((t) => percentile([...t.times].sort((a, b) => a - b), 99)));
      const runP99 = percentile([...runPage.times].sort((a, b) => a - b), 99);
      const lines = [
        `bench:console — the web console's pages on a store of ${store.meta.runs.toLocaleString('en-US')} runs, one run of ${settings.spans} spans`,
        machineLine(),
        `requests: ${settings.requests} per page shape after ${settings.warmup} warm-up, sequential, whole answer timed (ms)`,
        '',
        ...table(['page', 'status', 'size', 'p50', 'p99', 'max'], rows),
        '',
        `runs page: worst p99 ${worstRunsP99.toFixed(1)} ms (target < ${TARGET_RUNS_PAGE_MS} ms on 100,000 runs): ${worstRunsP99 < TARGET_RUNS_PAGE_MS ? 'met' : 'NOT met'}`,
        `run page (${settings.spans} spans): p99 ${runP99.toFixed(1)} ms (target < ${TARGET_RUN_PAGE_MS} ms for 3,000 spans): ${runP99 < TARGET_RUN_PAGE_MS ? 'met' : 'NOT met'}`,
        `server peak RSS: ${(procStatus(server.pid).hwmKb / 1024).toFixed(0)} MiB`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBenchmark(main, log);
