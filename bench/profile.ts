/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by area (SQLite, protobuf, gRPC,
 * runledger, GC, ...) and the top functions by self and by inclusive time. Used by
 * `npm run bench:ingest -- --cpu-prof`; also runnable alone:
 *
 *   node dist-bench/bench/profile.js FILE.cpuprofile [--top N] [--by-second]
 *
 * `--by-second` prints, per second of the profile, how long the main thread spent in each pipeline stage
 * (run evaluation, intake commit, request decode, GC, idle): it shows when one stage shuts the others out.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly ms: number;
  /** Share of the busy (non-idle) time, in percent. */
  readonly pct: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly busyMs: number;
  readonly areas: readonly ProfileEntry[];
  readonly selfTop: readonly ProfileEntry[];
  /** Inclusive time of functions in runledger's own code (dist/), the pipeline stages. */
  readonly inclusiveTop: readonly ProfileEntry[];
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const built = url.search(/\/dist(-bench)?\//);
  if (built >= 0) return url.slice(built + 1);
  return url.replace(/^file:\/\//, '');
}

function label(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  return frame.url === '' ? name : `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8/native (unattributed)';
  if (url.includes('node_modules/better-sqlite3')) return 'better-sqlite3 (JS side)';
  if (url.includes('node_modules/protobufjs') || url.includes('node_modules/@protobufjs')) return 'protobufjs';
  if (url === '' && /\$(decode|encode|toObject|fromObject|verify)$/.test(functionName)) return 'protobufjs (generated code)';
  if (url.includes('node_modules/long')) return 'long';
  if (url.includes('node_modules/@grpc')) return 'grpc-js';
  if (url.includes('node_modules/pino') || url.includes('node_modules/prom-client')) return 'pino/prom-client';
  if (url.includes('node_modules/')) return 'other node_modules';
  if (url.includes('/dist-bench/')) return 'bench server code';
  if (url.includes('/dist/')) return 'runledger code';
  if (url.startsWith('node:http2') || url.startsWith('node:internal/http2')) return 'node http2';
  if (url.startsWith('node:') || url.startsWith('internal/')) return 'node core (other)';
  if (url === '') return `native: ${functionName || '(anonymous)'}`;
  return 'other';
}

function top(map: Map<string, number>, busyMs: number, n: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms, pct: (100 * ms) / busyMs }));
}

export function summarizeProfile(profile: CpuProfile, n = 15): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<number, number>();
  let totalMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i + 1] is the time spent in sample i (as Chrome DevTools counts).
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    totalMs += ms;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + ms);
  }
  const areas = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleMs = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    const a = area(frame);
    if (a === '(idle)') {
      idleMs += ms;
      continue;
    }
    areas.set(a, (areas.get(a) ?? 0) + ms);
    const name = label(frame);
    selfByFunction.set(name, (selfByFunction.get(name) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!f.url.includes('/dist/')) continue;
      const l = label(f);
      if (seen.has(l)) continue; // recursion counts once
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + ms);
    }
  }
  const busyMs = totalMs - idleMs;
  return {
    totalMs,
    idleMs,
    busyMs,
    areas: top(areas, busyMs, 100),
    selfTop: top(selfByFunction, busyMs, n),
    inclusiveTop: top(inclusive, busyMs, n),
  };
}

/** Stage of a sample, by the innermost known frame on its stack. */
const STAGES: ReadonlyArray<readonly [stage: string, test: (f: CallFrame) => boolean]> = [
  ['evaluate', (f) => f.functionName === 'judgePass' || (f.functionName === 'save' && f.url.includes('assembler'))],
  ['intake', (f) => f.functionName === 'flush' && f.url.includes('span-intake')],
  ['decode', (f) => f.functionName === 'handleExport' || (f.functionName === 'Export' && f.url.includes('naive-server'))],
];
export const STAGE_COLUMNS = ['evaluate', 'intake', 'decode', 'GC', 'other', 'idle'] as const;

/** Milliseconds per stage for each second of the profile. */
export function stagesBySecond(profile: CpuProfile): Array<Record<(typeof STAGE_COLUMNS)[number], number>> {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const stageOf = new Map<number, (typeof STAGE_COLUMNS)[number]>();
  const classify = (id: number): (typeof STAGE_COLUMNS)[number] => {
    const known = stageOf.get(id);
    if (known !== undefined) return known;
    const own = byId.get(id)!.callFrame.functionName;
    let stage: (typeof STAGE_COLUMNS)[number] = own === '(idle)' ? 'idle' : own === '(garbage collector)' ? 'GC' : 'other';
    if (stage === 'other') {
      search: for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        for (const [name, test] of STAGES) {
          if (test(byId.get(at)!.callFrame)) {
            stage = name as (typeof STAGE_COLUMNS)[number];
            break search;
          }
        }
      }
    }
    stageOf.set(id, stage);
    return stage;
  };
  const seconds: Array<Record<(typeof STAGE_COLUMNS)[number], number>> = [];
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]! / 1000;
    const second = Math.floor(t / 1000);
    while (seconds.length <= second) seconds.push({ evaluate: 0, intake: 0, decode: 0, GC: 0, other: 0, idle: 0 });
    seconds[second]![classify(profile.samples[i]!)] += (profile.timeDeltas[i + 1] ?? 0) / 1000;
  }
  return seconds;
}

export function formatStagesBySecond(title: string, profile: CpuProfile): string {
  const lines = [`${title}: main thread ms per second, by stage`, `  ${'s'.padStart(4)}${STAGE_COLUMNS.map((c) => c.padStart(10)).join('')}`];
  stagesBySecond(profile).forEach((row, i) => {
    lines.push(`  ${String(i).padStart(4)}${STAGE_COLUMNS.map((c) => row[c].toFixed(0).padStart(10)).join('')}`);
  });
  return lines.join('\n');
}

export function formatProfileSummary(title: string, s: ProfileSummary): string {
  const rows = (entries: readonly ProfileEntry[]) =>
    entries.map((e) => `    ${e.pct.toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`).join('\n');
  return [
    `${title}: ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s profiled (percentages of busy time)`,
    '  self time by area:',
    rows(s.areas),
    '  top functions, self time:',
    rows(s.selfTop),
    '  runledger/bench functions, inclusive time:',
    rows(s.inclusiveTop),
  ].join('\n');
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' }, 'by-second': { type: 'boolean', default: false } },
  });
  for (const file of positionals) {
    const profile = readProfile(file);
    process.stdout.write(`${formatProfileSummary(file, summarizeProfile(profile, Number(values.top)))}\n\n`);
    if (values['by-second']) process.stdout.write(`${formatStagesBySecond(file, profile)}\n\n`);
  }
}
