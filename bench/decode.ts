/**
 * Decode micro-benchmark (`node dist-bench/bench/decode.js [--rounds N] [--ms MS]`), printed, never a test.
 *
 * One realistic 512-span ExportTraceServiceRequest (the ingest benchmark's workload), decoded by:
 *  - protobufjs 7 reflection, full decode of ExportTraceServiceRequest;
 *  - the same plus `toObject` (longs as strings, bytes as base64) and `JSON.stringify` per span, i.e.
 *    the naive baseline server's CPU path before SQLite;
 *  - runledger's intake view (decodeIntakeRequest: span fields and routing attributes decoded, bodies kept
 *    as bytes).
 * Cases run interleaved in rounds after a warm-up; the median round is reported.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeIntakeRequest } from '../src/otlp/intake-request.js';
import { ExportRequestView, ExportTraceServiceRequest } from '../src/otlp/proto.js';
import { KeySelector } from '../src/otlp/key-selector.js';
import { decodeSpanFields } from '../src/otlp/stored-span.js';
import { DEFAULT_SHAPE, buildRequest } from './workload.js';

interface ViewRequest {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Uint8Array[] }> }>;
}

interface FullRequest {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }>;
}

function countFull(request: FullRequest): number {
  let n = 0;
  for (const rs of request.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  return n;
}

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    ms: { type: 'string', default: '700' },
  },
});
const rounds = Number(values.rounds);
const roundMs = Number(values.ms);

const request = buildRequest(DEFAULT_SHAPE, 0, 1);
const bytes = request.bytes;
const spans = request.spans;

let sink = 0; // keeps results alive so nothing is optimised away
const NO_ATTRIBUTES = new KeySelector(new Set());
const cases: ReadonlyArray<{ name: string; run: () => number }> = [
  {
    name: 'protobufjs reflection, full decode',
    run: () => countFull(ExportTraceServiceRequest.decode(bytes) as FullRequest),
  },
  {
    name: 'full decode + toObject + JSON.stringify/span (naive)',
    run: () => {
      const object = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(bytes), { longs: String, bytes: String }) as {
        resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }>;
      };
      let n = 0;
      for (const rs of object.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          for (const span of ss.spans ?? []) {
            sink += JSON.stringify(span).length;
            n++;
          }
        }
      }
      return n;
    },
  },
  {
    name: '  breakdown: ExportRequestView.decode only',
    run: () => countFull(ExportRequestView.decode(bytes) as ViewRequest),
  },
  {
    name: '  breakdown: view + span fields without attributes',
    run: () => {
      const view = ExportRequestView.decode(bytes) as ViewRequest;
      let n = 0;
      for (const rs of view.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          for (const body of ss.spans ?? []) {
            sink += decodeSpanFields(body, NO_ATTRIBUTES).kind;
            n++;
          }
        }
      }
      return n;
    },
  },
  {
    name: 'runledger intake view (decodeIntakeRequest)',
    run: () => decodeIntakeRequest(bytes).spanCount,
  },
];

for (const c of cases) {
  const n = c.run();
  if (n !== spans) throw new Error(`${c.name} decoded ${n} spans, expected ${spans}`);
}

function timeRound(run: () => number, ms: number): number {
  let decoded = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    decoded += run();
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return decoded / (elapsed / 1000);
}

// Warm-up: let V8 optimise every path.
for (const c of cases) timeRound(c.run, Math.min(500, roundMs));
const perCase = cases.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) cases.forEach((c, i) => perCase[i]!.push(timeRound(c.run, roundMs)));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const results = cases.map((c, i) => ({ name: c.name, spansPerSecond: median(perCase[i]!) }));
const full = results[0]!.spansPerSecond;
process.stdout.write(
  [
    'decode micro-benchmark',
    `machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown cpu'}, node ${process.version}`,
    `request: ${spans} spans, ${(bytes.length / 1024).toFixed(0)} KiB, 12 attributes ≈ ${request.meanAttributeBytes.toFixed(0)} B each, 1 event/span; median of ${rounds} rounds × ${roundMs} ms`,
    '',
    `${'decoder'.padEnd(54)}${'spans/s'.padStart(12)}${'MiB/s'.padStart(9)}${'vs full'.padStart(9)}`,
    ...results.map(
      (r) =>
        `${r.name.padEnd(54)}${fmt(r.spansPerSecond).padStart(12)}${((r.spansPerSecond / spans) * bytes.length / 2 ** 20).toFixed(0).padStart(9)}${`${(r.spansPerSecond / full).toFixed(2)}×`.padStart(9)}`,
    ),
    '',
    existsSync(fileURLToPath(new URL('../../node_modules/protobufjs-cli', import.meta.url)))
      ? 'note: protobufjs-cli is installed but static code generation is not measured here.'
      : 'note: protobufjs static code (pbjs -t static-module) not measured: protobufjs-cli is not a dependency.',
    `(checksum ${sink % 997})`,
  ].join('\n') + '\n',
);
