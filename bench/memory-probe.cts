/**
 * Where a server's memory is at its peak: preloaded into runledger with `node --require` by the benches'
 * `--memory` option (CommonJS, because Node 20 runs `--require` preloads in every worker thread too, and
 * `--import` ones only in the main thread). Never loaded by the product.
 *
 * Each thread samples its own V8 isolate every 100 ms (heap spaces, external memory, array buffers) and
 * posts it on a BroadcastChannel; the main thread keeps the latest sample of every thread and the
 * process's RSS split (anonymous, file-backed), and snapshots them all whenever RSS reaches a new peak.
 * At exit the main thread writes that snapshot, and each thread's own peaks, as JSON to the file named
 * by RUNLEDGER_BENCH_MEMORY_FILE.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const SAMPLE_MS = 100;

/** One isolate's memory, in bytes. */
interface IsolateSample {
  /** The thread's script (intake-worker, history-worker, forward-worker) or `main`. */
  readonly thread: string;
  readonly threadId: number;
  /** Physical memory of the V8 heap, by space (new_space, old_space, code_space, large_object_space, ...). */
  readonly spaces: Readonly<Record<string, number>>;
  readonly heapPhysical: number;
  readonly heapUsed: number;
  /** Memory V8 allocated with malloc for itself (not the JS heap). */
  readonly mallocedMemory: number;
  /** Memory outside the heap held by JS objects (Buffers, ArrayBuffers, native wrappers). */
  readonly external: number;
  readonly arrayBuffers: number;
}

interface ProcessSample {
  readonly rss: number;
  readonly rssAnon: number;
  readonly rssFile: number;
}

/** What the file holds. */
export interface MemoryProbeReport {
  /** Every thread's latest sample when the process's RSS was highest. */
  readonly atPeak: ProcessSample & { readonly isolates: readonly IsolateSample[] };
  /** Each thread's highest heap and external figures over the run (not simultaneous). */
  readonly threadPeaks: readonly IsolateSample[];
}

const file = process.env.RUNLEDGER_BENCH_MEMORY_FILE;
const channel = new BroadcastChannel('runledger-bench-memory-probe');
channel.unref();

function threadName(): string {
  // A worker's process.argv names its script only once it runs it, after this preload.
  return isMainThread ? 'main' : basename(process.argv[1] ?? `thread-${threadId}`).replace(/\.js$/, '');
}

function sampleIsolate(): IsolateSample {
  const heap = getHeapStatistics();
  const usage = process.memoryUsage();
  return {
    thread: threadName(),
    threadId,
    spaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size])),
    heapPhysical: heap.total_physical_size,
    heapUsed: heap.used_heap_size,
    mallocedMemory: heap.malloced_memory,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
  };
}

function sampleProcess(): ProcessSample {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
}

const peaks = new Map<number, IsolateSample>();
function keepPeak(sample: IsolateSample): void {
  const before = peaks.get(sample.threadId);
  if (before === undefined) {
    peaks.set(sample.threadId, sample);
    return;
  }
  const max = (a: number, b: number) => Math.max(a, b);
  const spaces: Record<string, number> = { ...before.spaces };
  for (const [name, bytes] of Object.entries(sample.spaces)) spaces[name] = max(spaces[name] ?? 0, bytes);
  peaks.set(sample.threadId, {
    thread: sample.thread,
    threadId: sample.threadId,
    spaces,
    heapPhysical: max(before.heapPhysical, sample.heapPhysical),
    heapUsed: max(before.heapUsed, sample.heapUsed),
    mallocedMemory: max(before.mallocedMemory, sample.mallocedMemory),
    external: max(before.external, sample.external),
    arrayBuffers: max(before.arrayBuffers, sample.arrayBuffers),
  });
}

if (isMainThread) {
  const latest = new Map<number, IsolateSample>();
  let atPeak: MemoryProbeReport['atPeak'] | undefined;
  channel.onmessage = (event) => {
    const sample = (event as { data: IsolateSample }).data;
    latest.set(sample.threadId, sample);
    keepPeak(sample);
  };
  setInterval(() => {
    const own = sampleIsolate();
    latest.set(own.threadId, own);
    keepPeak(own);
    const proc = sampleProcess();
    if (atPeak === undefined || proc.rss > atPeak.rss) atPeak = { ...proc, isolates: [...latest.values()] };
  }, SAMPLE_MS).unref();
  process.on('exit', () => {
    if (file === undefined || atPeak === undefined) return;
    const report: MemoryProbeReport = { atPeak, threadPeaks: [...peaks.values()] };
    writeFileSync(file, JSON.stringify(report));
  });
} else {
  setInterval(() => channel.postMessage(sampleIsolate()), SAMPLE_MS).unref();
}
