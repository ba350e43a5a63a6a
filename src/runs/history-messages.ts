import type { VerdictSummary } from './run-history.js';

/** Main thread → history worker. */
export type ToHistory = { type: 'touched'; runKeys: string[] } | { type: 'shutdown' };

/** History worker → main thread. */
export type FromHistory =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'closed' }
  | { type: 'evaluated'; summary: VerdictSummary }
  | { type: 'capped'; cap: 'max_spans_per_run' | 'max_open_runs' }
  | { type: 'duplicates'; count: number }
  | { type: 'evaluation_failed' }
  | { type: 'open_runs'; count: number }
  | { type: 'checkpoint'; atMs: number }
  | { type: 'reference_reload'; file: 'identities' | 'policies'; result: 'loaded' | 'failed' }
  | { type: 'pruned'; runs: number; unforwardedSpans: number };
