import type { Logger } from 'pino';
import type { RunVerdict } from '../evidence/evaluate.js';
import type { RunHistory, RunInput, RunSpan } from '../evidence/run-input.js';
import { TickHistory } from './tick-history.js';
import type { Component } from '../pipeline/component.js';
import type { RunState, RunStore, SavedRevision } from '../store/run-store.js';
import type { JudgedRevision, RevisionBatch, RevisionSink, UnchangedRun } from './history-writer.js';
import type { RunLoader } from './run-loader.js';
import type { RunsConfig } from './config.js';
import { sealRevision, type EvaluationReason, type PreparedRevision } from './seal.js';

/** What the assembler reports; the pipeline turns it into metrics. */
export interface AssemblerEvents {
  /** A revision was saved. */
  evaluated(revision: PreparedRevision): void;
  capped(reason: 'max_spans_per_run' | 'max_open_runs'): void;
  /** Copies of spans already stored (same trace and span id) that judging found and ignored. */
  duplicates(count: number): void;
  evaluationFailed(): void;
  openRuns(count: number): void;
}

/** How runs are judged, and whether a run is ready to be. */
export interface RunJudge {
  evaluate(input: RunInput, history: RunHistory): RunVerdict;
  /** Whether the run's own top span is still to come (see awaitsRoot): then settling does not judge it. */
  awaitsRoot(spans: readonly RunSpan[]): boolean;
}

/** What the assembler works with besides its config and where its revisions go. */
export interface AssemblerDeps {
  /** The runs' index rows and claims (reads only: every write goes through the sink). */
  readonly store: RunStore;
  readonly loader: RunLoader;
  readonly judge: RunJudge;
  readonly events: AssemblerEvents;
  readonly logger: Logger;
  readonly now?: () => bigint;
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

interface DueRun {
  readonly run: OpenRun;
  readonly reason: EvaluationReason;
}

/** A judged pass on its way to the store. */
interface JudgedPass {
  readonly batch: RevisionBatch;
  /** Its claims, which the pass judged while it is saved counts as stored. */
  readonly history: TickHistory;
  readonly newDuplicates: number;
}

/** How long the due runs found by one scan are taken in order before the open runs are scanned again. */
const RESCAN_NS = 1_000_000_000n;

/**
 * A tick evaluates for at most this long, then saves what it judged and continues. The intake writer
 * waits while a save runs (see WriterTurn): ticks of 100 ms saved ~140 runs at a time and held OTLP
 * answers back ~25 ms; at 25 ms, spans/s with judging under full load rose 9% and p99 fell 15%.
 */
const TICK_BUDGET_MS = 25;
/**
 * The budget while intake writes nothing (a backlog draining after load stops, a restart): no answer
 * waits on the save, and fewer, larger saves write shared pages (index leaves, the chain's end) once
 * instead of once per save. Judging the A corpus alone: WAL writes 355k → 248k, fsyncs 845 → 148.
 */
const DRAIN_TICK_BUDGET_MS = 200;
/**
 * Judged passes that may wait for the save under way. Two: while the intake writer appends one pass
 * (a backlog draining), judging has the next ready and goes on with a third, so neither thread waits
 * out the other's slower passes (with one, in B's drain, history sat idle 10% and the appender 16%).
 */
const MAX_PASSES_WAITING = 2;
/** How often the open runs left in the store are counted for the gauge (a count reads an index). */
const COUNT_LEFT_INTERVAL_MS = 5_000;

/**
 * DESIGN §4: groups spans into runs and decides when each is judged — root seen and quiet for
 * settle_ms, or max_open_ms without a root, or a cap reached. The state lives in SQLite (`runs`);
 * memory holds only an index of at most `max_open_runs` open runs, rebuilt at start.
 *
 * When judging falls behind, runs that are due are not judged early: they wait for their turn, and
 * new runs beyond the memory cap wait in the store and are read back, oldest first, as judging makes
 * room. Only runs still collecting spans are capped (judged early with `run_capped`).
 */
export class RunAssembler implements Component {
  private readonly open = new Map<string, OpenRun>();
  /** Some open runs are in the store only (see touched); readBack brings them in. */
  private leftInStore = false;
  /** Open runs counted in the store, for the gauge, while some are left there. */
  private storeOpenCount = 0;
  private storeCountedAtMs = Number.NEGATIVE_INFINITY;
  /** Runs that were due at the last pass and not judged in it: judging is behind. */
  private waiting = 0;
  /** The due runs found by the last scan, oldest first; passes take them from `next` on (see nextDue). */
  private queue: DueRun[] = [];
  private next = 0;
  private queuedAtNs = 0n;
  /**
   * Runs of passes judged and not yet saved, not judged again until their save settles them; true once
   * intake touched the run meanwhile.
   */
  private readonly unsettled = new Map<string, boolean>();
  /** The pass being saved. */
  private inFlight: JudgedPass | undefined;
  /** Judged passes waiting for the save under way, oldest first (at most MAX_PASSES_WAITING). */
  private readonly waitingToSave: JudgedPass[] = [];
  /** The last of the passes judged and saved, in order. */
  private passes: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private stopped = false;
  /** Whether intake committed nothing during the last save: then passes take longer turns. */
  private intakeIdle = true;
  private readonly settleNs: bigint;
  private readonly maxOpenNs: bigint;

  private readonly store: RunStore;
  private readonly loader: RunLoader;
  private readonly judge: RunJudge;
  private readonly events: AssemblerEvents;
  private readonly logger: Logger;
  private readonly now: () => bigint;

  constructor(
    private readonly config: RunsConfig,
    /** Where each pass's revisions are saved (HistoryWriter). */
    private readonly sink: RevisionSink,
    deps: AssemblerDeps,
  ) {
    this.store = deps.store;
    this.loader = deps.loader;
    this.judge = deps.judge;
    this.events = deps.events;
    this.logger = deps.logger;
    this.now = deps.now ?? (() => BigInt(Date.now()) * 1_000_000n);
    this.settleNs = BigInt(config.settle_ms) * 1_000_000n;
    this.maxOpenNs = BigInt(config.max_open_ms) * 1_000_000n;
  }

  async start(): Promise<void> {
    this.readBack();
    if (this.open.size > 0) this.logger.info({ open_runs: this.open.size, more_in_store: this.leftInStore }, 'resumed open runs');
    this.reportOpenRuns();
    this.schedule();
  }

  /** Stops judging; a pass already judged is still saved. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.passes;
  }

  /** Intake committed spans of these runs: refresh them from the store. */
  touched(runKeys: Iterable<string>): void {
    for (const runKey of runKeys) {
      if (this.unsettled.has(runKey)) this.unsettled.set(runKey, true);
      const state = this.store.runState(runKey);
      if (state === undefined || state.state !== 'open') continue;
      if (!this.open.has(runKey) && this.open.size >= this.config.max_open_runs && this.waiting > 0) {
        // Memory is full and judging is behind: capping would judge early only to free memory the
        // waiting runs free anyway. This run waits in the store and is read back in its turn.
        this.leftInStore = true;
        continue;
      }
      this.track(state);
    }
    this.enforceOpenRunCap();
    this.reportOpenRuns();
  }

  /**
   * Judges the runs that are due now, within the budget, saves them and settles them; resolves with how
   * many are still due. (The timer's turns overlap one pass's save with judging the next; see tick.)
   */
  async evaluateDue(budgetMs = Number.POSITIVE_INFINITY): Promise<number> {
    await this.passes;
    const pass = this.judgePass(budgetMs);
    return pass === undefined ? this.waiting : this.save(pass);
  }

  /**
   * Judges the runs that are due now, within the budget, without saving them. Runs are loaded and
   * judged outside any transaction, in one read snapshot, and saved in one short transaction after,
   * so intake (another connection) is never held behind evaluation. The runs of passes not saved yet
   * are left out, and their claims count as stored (see TickHistory).
   */
  private judgePass(budgetMs: number): JudgedPass | undefined {
    const now = this.now();
    this.waiting = this.queueDue(now);
    if (this.waiting === 0) return undefined;

    const started = performance.now();
    const history = new TickHistory(this.store, (this.waitingToSave.at(-1) ?? this.inFlight)?.history);
    const judged: JudgedRevision[] = [];
    const unchanged: UnchangedRun[] = [];
    let newDuplicates = 0;
    // All of the pass's reads see one snapshot (see RunStore.snapshot); spans committed meanwhile
    // move last_received_ns past the loaded one, so the save leaves their run open.
    this.store.snapshot(() => {
      while (performance.now() - started <= budgetMs) {
        const due = this.nextDue(now);
        if (due === undefined) break;
        const { run, reason } = due;
        // The index row first, then the spans: a span committed in between is in the load, and the
        // run stays open only needlessly — never the other way round.
        const state = this.store.runState(run.runKey);
        if (state === undefined) {
          this.open.delete(run.runKey);
          continue;
        }
        const loaded = this.loader.loadRun(run.runKey);
        const countedBefore = state.duplicateSpans;
        if (state.revision > 0 && state.judgedSpans === loaded.spans.length) {
          unchanged.push({ runKey: run.runKey, loadedLastNs: state.lastReceivedNs, duplicates: loaded.duplicates });
          this.unsettled.set(run.runKey, false);
          newDuplicates += Math.max(0, loaded.duplicates - countedBefore);
          continue;
        }
        const input: RunInput = {
          runKey: run.runKey,
          spans: loaded.spans,
          ...(run.capped !== undefined ? { capped: run.capped } : {}),
          ...(reason === 'max_open' ? { rootMissing: true } : {}),
        };
        if ((reason === 'settled' || reason === 'amended') && this.judge.awaitsRoot(input.spans)) {
          // Quiet, but its top span is still running: it waits like a run without a root, until a new
          // span arrives (and it settles again) or max_open_ms passes.
          run.hasRoot = false;
          continue;
        }
        try {
          const verdict = this.judge.evaluate(input, history);
          history.record(verdict, minStart(input));
          // Serialised here, outside the save (this thread alone numbers revisions).
          const prepared = sealRevision(input, verdict, reason, now, state.revision + 1);
          judged.push({ prepared, loadedLastNs: state.lastReceivedNs, duplicates: loaded.duplicates });
          this.unsettled.set(run.runKey, false);
          newDuplicates += Math.max(0, loaded.duplicates - countedBefore);
        } catch (err) {
          // A bug must not stall every other run: leave this one open in the store for the next start.
          this.logger.error({ err, run_key: run.runKey }, 'run evaluation failed');
          this.events.evaluationFailed();
          this.open.delete(run.runKey);
        }
      }
    });
    this.waiting = this.queue.length - this.next;
    if (judged.length === 0 && unchanged.length === 0) return undefined;
    return { batch: { judged, unchanged }, history, newDuplicates };
  }

  /** Saves a judged pass and settles its runs; resolves with how many runs are still due. */
  private async save(pass: JudgedPass): Promise<number> {
    this.inFlight = pass;
    // The pass before is saved (saves go one after the other): its claims are in the store now.
    pass.history.beforeSaved();
    const { judged, unchanged } = pass.batch;
    try {
      const { saved, closed, intakeIdle } = await this.sink.save(pass.batch);
      this.intakeIdle = intakeIdle;
      for (let i = 0; i < judged.length; i++) {
        const { prepared } = judged[i]!;
        this.settle(prepared.runKey, saved[i]!);
        this.events.evaluated(prepared);
      }
      for (let i = 0; i < unchanged.length; i++) this.settle(unchanged[i]!.runKey, closed[i]!);
      if (pass.newDuplicates > 0) this.events.duplicates(pass.newDuplicates);
    } catch (err) {
      this.logger.error({ err, runs: judged.length + unchanged.length }, 'saving run revisions failed; will retry');
      for (const j of judged) this.unsettled.delete(j.prepared.runKey);
      for (const u of unchanged) this.unsettled.delete(u.runKey);
      this.queue = []; // scanned again at the next pass, these runs with the others still due
    } finally {
      this.inFlight = undefined;
    }
    this.reportOpenRuns();
    return this.waiting;
  }

  /**
   * Queues the runs due now, oldest first, when the last scan's are used up or a second old; returns
   * how many are queued. Scanning every open run and sorting the due ones at every pass cost a
   * backlog of 40k runs ~10 ms per 25–200 ms pass.
   */
  private queueDue(now: bigint): number {
    if (this.next < this.queue.length && now - this.queuedAtNs < RESCAN_NS) return this.queue.length - this.next;
    let due = this.dueRuns(now);
    if (due.length === 0 && this.leftInStore && this.open.size < this.config.max_open_runs) {
      this.readBack();
      due = this.dueRuns(now);
    }
    due.sort((a, b) => (a.run.firstNs < b.run.firstNs ? -1 : a.run.firstNs > b.run.firstNs ? 1 : 0));
    this.queue = due;
    this.next = 0;
    this.queuedAtNs = now;
    return due.length;
  }

  /** The next queued run still open and due, with why it is due now. */
  private nextDue(now: bigint): DueRun | undefined {
    while (this.next < this.queue.length) {
      const { run } = this.queue[this.next++]!;
      if (this.open.get(run.runKey) !== run || this.unsettled.has(run.runKey)) continue;
      const reason = this.dueReason(run, now);
      if (reason !== undefined) return { run, reason };
    }
    return undefined;
  }

  /**
   * After a save: a run still open is tracked again. A span may have arrived while it was judged (the
   * save left it open), or after the save committed but before its answer came (then the store's
   * state, not the save's, says so).
   */
  private settle(runKey: string, saved: SavedRevision): void {
    const touchedMeanwhile = this.unsettled.get(runKey) === true;
    this.unsettled.delete(runKey);
    const reopened = saved.state === 'open' || (saved.state !== undefined && touchedMeanwhile);
    const after = reopened ? this.store.runState(runKey) : undefined;
    if (after !== undefined && after.state === 'open') {
      const entry = this.open.get(runKey);
      if (entry !== undefined) entry.capped = undefined;
      this.track(after);
    } else {
      this.open.delete(runKey);
    }
  }

  private dueRuns(now: bigint): DueRun[] {
    const due: DueRun[] = [];
    for (const run of this.open.values()) {
      const reason = this.dueReason(run, now);
      if (reason !== undefined) due.push({ run, reason });
    }
    return due;
  }

  private dueReason(run: OpenRun, now: bigint): EvaluationReason | undefined {
    if (run.capped !== undefined) return 'capped';
    if (run.hasRoot) return run.lastNs + this.settleNs <= now ? (run.revision > 0 ? 'amended' : 'settled') : undefined;
    return run.firstNs + this.maxOpenNs <= now ? 'max_open' : undefined;
  }

  /** Tracks the open runs that arrived first, up to the memory cap; notes whether any are left in the store. */
  private readBack(): void {
    this.leftInStore = false;
    for (const state of this.store.openRuns()) {
      if (this.open.has(state.runKey)) continue;
      if (this.open.size >= this.config.max_open_runs) {
        this.leftInStore = true;
        break;
      }
      this.track(state);
    }
    this.storeCountedAtMs = Number.NEGATIVE_INFINITY;
  }

  /** The gauge counts every open run, those left in the store too (counted now and then: it reads an index). */
  private reportOpenRuns(): void {
    if (!this.leftInStore) {
      this.events.openRuns(this.open.size);
      return;
    }
    if (Date.now() - this.storeCountedAtMs >= COUNT_LEFT_INTERVAL_MS) {
      this.storeOpenCount = this.store.openRunCount();
      this.storeCountedAtMs = Date.now();
    }
    this.events.openRuns(Math.max(this.storeOpenCount, this.open.size));
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
    const now = this.now();
    for (const run of this.open.values()) {
      if (excess <= 0) break;
      // A due run is judged at the next pass anyway: capping it would only add a false finding.
      if (this.dueReason(run, now) !== undefined) continue;
      run.capped = `more than runs.max_open_runs (${this.config.max_open_runs}) runs were open; the oldest was judged early`;
      run.cappedOnce = true;
      this.events.capped('max_open_runs');
      excess--;
    }
  }

  /** Takes a turn after the delay (the polling interval by default); an earlier turn replaces a later one. */
  private schedule(delayMs?: number): void {
    if (this.stopped) return;
    const delay = delayMs ?? Math.min(1000, Math.max(50, Math.floor(this.config.settle_ms / 4)));
    const at = performance.now() + delay;
    if (this.timer !== undefined) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.tick();
    }, delay);
  }

  /**
   * One turn of judging. The pass judged here is saved once the save before it is done. A save the
   * writer hands to another thread (while intake is idle) lets the next turns judge the next pass
   * meanwhile, so judging and saving run in parallel; a pass judged over unsaved ones sees their
   * claims (see TickHistory).
   */
  private tick(): void {
    // Enough judged passes wait for the save under way; that save schedules the next turn.
    if (this.waitingToSave.length >= MAX_PASSES_WAITING) return;
    const pass = this.judgePass(this.intakeIdle ? DRAIN_TICK_BUDGET_MS : TICK_BUDGET_MS);
    if (pass === undefined) {
      // Nothing to save; a save under way schedules the next turn when it ends.
      if (this.inFlight === undefined) this.schedule(this.waiting > 0 ? 0 : undefined);
      return;
    }
    this.waitingToSave.push(pass);
    this.passes = this.passes.then(() => {
      this.waitingToSave.shift();
      const saved = this.save(pass);
      this.schedule(this.waiting > 0 ? 0 : undefined);
      return saved.then((remaining) => {
        if (this.waitingToSave.length === 0) this.schedule(remaining > 0 ? 0 : undefined);
      });
    });
    if (this.waitingToSave.length < MAX_PASSES_WAITING) this.schedule(this.waiting > 0 ? 0 : undefined);
  }
}

function minStart(input: RunInput): bigint {
  let min: bigint | undefined;
  for (const s of input.spans) if (min === undefined || s.startNs < min) min = s.startNs;
  return min ?? 0n;
}
