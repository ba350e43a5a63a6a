import type { Logger } from 'pino';
import type { RunVerdict } from '../evidence/evaluate.js';
import type { RunInput } from '../evidence/run-input.js';
import type { Component } from '../pipeline/component.js';
import type { SpanBatch } from '../pipeline/span-batch.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import type { EvaluationReason, RunState, RunStore } from '../store/run-store.js';
import type { RunsConfig } from './config.js';

/** What the assembler reports; the pipeline turns it into metrics. */
export interface AssemblerEvents {
  evaluated(verdict: RunVerdict, reason: EvaluationReason): void;
  capped(reason: 'max_spans_per_run' | 'max_open_runs'): void;
  evaluationFailed(): void;
  openRuns(count: number): void;
}

interface OpenRun {
  readonly runKey: string;
  firstNs: bigint;
  lastNs: bigint;
  hasRoot: boolean;
  spanCount: number;
  revision: number;
  /** Set when a cap makes the run due now. */
  capped: string | undefined;
  cappedOnce: boolean;
}

/** A tick evaluates for at most this long, then yields to intake and continues. */
const TICK_BUDGET_MS = 100;

/**
 * DESIGN §4: groups spans into runs and decides when each is judged — root seen and quiet for
 * settle_ms, or max_open_ms without a root, or a cap reached. The state lives in SQLite (`runs`);
 * memory holds only this index of open runs, rebuilt at start.
 */
export class RunAssembler implements SpanSink, Component {
  private readonly open = new Map<string, OpenRun>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly config: RunsConfig,
    private readonly store: RunStore,
    private readonly evaluate: (input: RunInput) => RunVerdict,
    private readonly events: AssemblerEvents,
    private readonly logger: Logger,
    private readonly now: () => bigint = () => BigInt(Date.now()) * 1_000_000n,
  ) {}

  async start(): Promise<void> {
    for (const state of this.store.openRuns()) this.track(state);
    if (this.open.size > 0) this.logger.info({ open_runs: this.open.size }, 'resumed open runs');
    this.events.openRuns(this.open.size);
    this.schedule();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Called after intake committed the batch: refresh the runs it touched from the store. */
  consume(batch: SpanBatch): Promise<void> {
    const touched = new Set<string>();
    for (const s of batch.spans) if (s.runKey !== null) touched.add(s.runKey);
    for (const claim of batch.claims) touched.add(claim.runKey);
    for (const runKey of touched) {
      const state = this.store.runState(runKey);
      if (state !== undefined && state.state === 'open') this.track(state);
    }
    this.enforceOpenRunCap();
    this.events.openRuns(this.open.size);
    return Promise.resolve();
  }

  /** Evaluates the runs that are due now, within the budget; returns how many are still due. */
  evaluateDue(budgetMs = Number.POSITIVE_INFINITY): number {
    const now = this.now();
    const settleNs = BigInt(this.config.settle_ms) * 1_000_000n;
    const maxOpenNs = BigInt(this.config.max_open_ms) * 1_000_000n;
    const due: Array<{ run: OpenRun; reason: EvaluationReason }> = [];
    for (const run of this.open.values()) {
      if (run.capped !== undefined) due.push({ run, reason: 'capped' });
      else if (run.hasRoot && run.lastNs + settleNs <= now) due.push({ run, reason: run.revision > 0 ? 'amended' : 'settled' });
      else if (!run.hasRoot && run.firstNs + maxOpenNs <= now) due.push({ run, reason: 'max_open' });
    }
    if (due.length === 0) return 0;
    due.sort((a, b) => (a.run.firstNs < b.run.firstNs ? -1 : a.run.firstNs > b.run.firstNs ? 1 : 0));

    const started = performance.now();
    const done: Array<{ verdict: RunVerdict; reason: EvaluationReason }> = [];
    let failed = 0;
    try {
      // One transaction for the whole tick: one fsync, and replay checks see runs judged just before.
      this.store.transaction(() => {
        for (const { run, reason } of due) {
          if (performance.now() - started > budgetMs) break;
          const input: RunInput = {
            runKey: run.runKey,
            spans: this.store.loadRun(run.runKey),
            ...(run.capped !== undefined ? { capped: run.capped } : {}),
            ...(reason === 'max_open' ? { rootMissing: true } : {}),
          };
          let verdict: RunVerdict;
          try {
            verdict = this.evaluate(input);
          } catch (err) {
            // A bug must not stall every other run: leave this one open in the store for the next start.
            this.logger.error({ err, run_key: run.runKey }, 'run evaluation failed');
            this.events.evaluationFailed();
            this.open.delete(run.runKey);
            failed++;
            continue;
          }
          this.store.saveRevision(input, verdict, reason, now);
          done.push({ verdict, reason });
        }
      });
    } catch (err) {
      this.logger.error({ err, runs: due.length }, 'saving run revisions failed; will retry');
      return 0;
    }
    for (const { verdict, reason } of done) {
      this.open.delete(verdict.run_id);
      this.events.evaluated(verdict, reason);
    }
    this.events.openRuns(this.open.size);
    return due.length - done.length - failed;
  }

  private track(state: RunState): void {
    const existing = this.open.get(state.runKey);
    const run: OpenRun = existing ?? {
      runKey: state.runKey,
      firstNs: state.firstReceivedNs,
      lastNs: state.lastReceivedNs,
      hasRoot: state.hasRoot,
      spanCount: state.spanCount,
      revision: state.revision,
      capped: undefined,
      cappedOnce: false,
    };
    run.lastNs = state.lastReceivedNs;
    // An evaluated run that gets a late span had its root judged already: it settles and amends.
    run.hasRoot = state.hasRoot || state.revision > 0;
    run.spanCount = state.spanCount;
    run.revision = state.revision;
    if (!run.cappedOnce && run.spanCount >= this.config.max_spans_per_run) {
      run.capped = `the run reached runs.max_spans_per_run (${this.config.max_spans_per_run}) and was judged early`;
      run.cappedOnce = true;
      this.events.capped('max_spans_per_run');
    }
    if (existing === undefined) this.open.set(state.runKey, run);
  }

  private enforceOpenRunCap(): void {
    let excess = this.open.size - this.config.max_open_runs;
    if (excess <= 0) return;
    for (const run of this.open.values()) {
      if (excess <= 0) break;
      if (run.capped !== undefined) continue;
      run.capped = `more than runs.max_open_runs (${this.config.max_open_runs}) runs were open; the oldest was judged early`;
      run.cappedOnce = true;
      this.events.capped('max_open_runs');
      excess--;
    }
  }

  private schedule(delayMs?: number): void {
    if (this.stopped) return;
    const interval = Math.min(1000, Math.max(50, Math.floor(this.config.settle_ms / 4)));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      const remaining = this.evaluateDue(TICK_BUDGET_MS);
      this.schedule(remaining > 0 ? 0 : undefined);
    }, delayMs ?? interval);
  }
}
