import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets each thread's old generation grow past what survived its last full collection.
 * Unset, V8 picks a factor of up to 4 on a machine with much memory (up to 1.4 where a thread may
 * use only 512 MiB), and most of what intake promotes is garbage by the next collection. Under full
 * load (`npm run bench:ingest -- --memory`, 24 GiB machine) the main thread's old space reached
 * ~57 MiB, the history worker's ~70, and buffers outside the heap waiting for the same collections
 * ~40; at 100% ~39, ~40 and ~20, peak RSS 341 → 261 MB at the same spans/s. 50% saved 30 MB more
 * but cost ~10% of the spans/s in collections.
 */
export const HEAP_GROWING_PERCENT = 100;

/**
 * Sets V8's heap growing factor for every isolate of the process, the main thread's included: V8
 * reads it at each collection, so it applies from the next one on, whatever node was started with.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
