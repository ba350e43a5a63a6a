import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { ChainWriter } from '../integrity/chain-writer.js';
import { loadOrCreateSigningKey } from '../integrity/signing.js';
import { applyRetention } from '../retention/retention.js';
import { ChainStore } from '../store/chain-store.js';
import { restartWalPastLimit, type Database } from '../store/database.js';
import { Pruner } from '../store/pruner.js';
import { RunStore, type SavedRevision } from '../store/run-store.js';
import type { WriterTurn } from '../store/writer-turn.js';
import { RUNLEDGER_VERSION } from '../version.js';
import { renumbered, type PreparedRevision } from './seal.js';

/** A judged run's revision, with what the save checks and counts: the last span time loaded, copies of spans. */
export interface JudgedRevision {
  readonly prepared: PreparedRevision;
  readonly loadedLastNs: bigint;
  readonly duplicates: number;
}

/** A run that got only copies of spans its last revision was judged on: closed without a revision. */
export interface UnchangedRun {
  readonly runKey: string;
  readonly loadedLastNs: bigint;
  readonly duplicates: number;
}

/** A judging pass's revisions, as the judging thread hands them to the writer. */
export interface RevisionBatch {
  readonly judged: readonly JudgedRevision[];
  readonly unchanged: readonly UnchangedRun[];
}

/** What saving a batch wrote, in the batch's order. */
export interface SavedBatch {
  readonly saved: readonly SavedRevision[];
  readonly closed: readonly SavedRevision[];
  /** Intake committed nothing since the save before: no OTLP answer is waiting on these saves. */
  readonly intakeIdle: boolean;
}

/** Where judged revisions go to be appended (HistoryWriter); all of a batch or, on error, none. */
export interface RevisionSink {
  save(batch: RevisionBatch): Promise<SavedBatch>;
}

/** What appending a batch wrote: the revision rows of its judged runs and of its closed ones, in order. */
export type AppendedBatch = Omit<SavedBatch, 'intakeIdle'>;

/** Appends batches on another connection and thread (see revision-channel.ts). */
export interface BatchAppender {
  append(batch: RevisionBatch): Promise<AppendedBatch>;
}

/** What the writer side of run history reports. */
export interface HistoryWriterEvents {
  checkpointWritten(atMs: number): void;
  /** Runs removed by retention, and their spans forwarding had not sent yet. */
  pruned(runs: number, unforwardedSpans: number): void;
}

/** Appends a batch's revisions and closes its unchanged runs; call inside a transaction. */
export function appendBatch(store: RunStore, batch: RevisionBatch): AppendedBatch {
  return {
    saved: batch.judged.map((j) => store.saveRevision(j.prepared, j.loadedLastNs, j.duplicates, renumbered)),
    closed: batch.unchanged.map((u) => store.saveUnchanged(u.runKey, u.loadedLastNs, u.duplicates)),
  };
}

const MAINTENANCE_INTERVAL_MS = 5_000;
/** See save. */
const WAL_COPY_INTERVAL_MS = 100;
/**
 * Judging alone (no intake writer): no answer waits on the copy, and copying less often copies the pages
 * each save rewrites (index leaves, the chain's end) once instead of once per save: bench:judge on a
 * 46k-run corpus, ~940 → ~1,180 runs/s against copying every 100 ms.
 */
const IDLE_WAL_COPY_INTERVAL_MS = 1_000;
/**
 * Intake is idle, for handing batches to its writer, once it wrote nothing for this long. Between two
 * saves 25 ms apart it often writes nothing under full load too: handed over then, appends delayed
 * OTLP answers (bench:ingest p99 212–236 → 312–391 ms) and the batches they held raised peak RSS past
 * 300 MB. A backlog draining after load is quiet for seconds.
 */
const INTAKE_QUIET_MS = 1_000;
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** What the history writer shares its work with. */
export interface HistoryWriterDeps {
  /** Shared with the intake writer, which lets this thread's transactions through (see WriterTurn). */
  readonly turn?: WriterTurn;
  /** The intake writer's thread, which appends batches while intake is idle (see save). */
  readonly idleAppender?: BatchAppender;
  /** How long intake must have written nothing before batches go to idleAppender (default INTAKE_QUIET_MS). */
  readonly intakeQuietMs?: number;
}

/**
 * The writing end of run history: appends judged revisions to the store and the hash chain, signs
 * checkpoints and applies retention. It is the only appender, so the chain is one strict sequence:
 * it saves on the history worker's connection, or hands a batch to the intake writer's thread while
 * intake is idle, and does nothing else until that batch is saved.
 */
export class HistoryWriter implements RevisionSink {
  private readonly chain: ChainWriter;
  private readonly store: RunStore;
  private readonly pruner: Pruner;
  private readonly maintenance: NodeJS.Timeout;
  private readonly turn: WriterTurn | undefined;
  private readonly idleAppender: BatchAppender | undefined;
  private readonly intakeQuietMs: number;
  private recordsSinceCheckpoint = 0;
  private lastCheckpointMs = 0;
  private lastPruneMs = 0;
  private intakeWritesAtSave: number | undefined;
  /** Since when (performance.now()) the saves found that intake wrote nothing; undefined while it writes. */
  private intakeQuietSinceMs: number | undefined;
  private walCopiedAtMs = Number.NEGATIVE_INFINITY;
  /** A batch is being appended on the intake writer's thread: maintenance waits for it. */
  private appendingElsewhere = false;
  private maintenanceWaiting = false;

  constructor(
    private readonly db: Database,
    private readonly config: Readonly<Config>,
    private readonly events: HistoryWriterEvents,
    private readonly logger: Logger,
    deps: HistoryWriterDeps = {},
  ) {
    this.turn = deps.turn;
    this.idleAppender = deps.idleAppender;
    this.intakeQuietMs = deps.intakeQuietMs ?? INTAKE_QUIET_MS;
    // Not inside this thread's commits, which hold the intake writer back: saves copy the WAL after
    // them (see saveHere), and the intake writer's own checkpoints keep the WAL bounded.
    db.pragma('wal_autocheckpoint = 0');
    const signingKey = loadOrCreateSigningKey(config.integrity.signing_key_file);
    this.chain = new ChainWriter(new ChainStore(db), signingKey, config.integrity.origin);
    this.chain.recordStart(nowNs(), RUNLEDGER_VERSION);
    logger.info({ key_id: signingKey.keyId, head_seq: this.chain.head().seq }, 'integrity chain started');
    this.store = new RunStore(db, this.chain);
    this.pruner = new Pruner(db, this.chain, config.exporters.otlp.endpoint !== undefined);
    this.maintain();
    const interval = Math.min(MAINTENANCE_INTERVAL_MS, config.integrity.checkpoint_interval_seconds * 1000);
    this.maintenance = setInterval(() => this.maintain(), interval);
  }

  /**
   * Saves a batch in one transaction. Once intake has written nothing for INTAKE_QUIET_MS (a backlog
   * draining), the intake writer's thread appends it, on the core intake leaves free, and judging goes
   * on with the next batch here (bench:judge on a 46k-run corpus: ~1,180 → ~1,800 runs/s). Under load
   * this thread saves, in its turn with the intake writer: saving there too had cost ingest 15–35% of
   * its spans/s.
   */
  async save(batch: RevisionBatch): Promise<SavedBatch> {
    const quiet = this.intakeQuietSinceMs !== undefined && performance.now() - this.intakeQuietSinceMs >= this.intakeQuietMs;
    if (this.idleAppender !== undefined && quiet) return this.saveElsewhere(this.idleAppender, batch);
    return this.saveHere(batch);
  }

  private async saveElsewhere(appender: BatchAppender, batch: RevisionBatch): Promise<SavedBatch> {
    this.appendingElsewhere = true;
    try {
      // While judging and appending overlap, some pass's snapshot always holds the WAL's newest frames,
      // so the log never starts over by itself: a drain grew it to 540–930 MB (~22 KiB a run). Here,
      // between two appends and outside any snapshot, nothing holds it.
      this.restartLongWal();
      const appended = await appender.append(batch);
      return { ...appended, intakeIdle: this.afterSave(batch) };
    } catch (err) {
      this.intakeQuietSinceMs = undefined; // the batch is judged again and saved here
      throw err;
    } finally {
      this.appendingElsewhere = false;
      if (this.maintenanceWaiting) this.maintain();
    }
  }

  /**
   * Saves on this thread, in its turn with the intake writer, then copies the WAL back into the
   * database outside the turn. A PASSIVE checkpoint waits for no one and leaves the intake writer's
   * own (on its commits) little to copy: copying run history's pages there had delayed every OTLP
   * answer behind it (+20% spans/s with judging under full load). Saves are short and frequent, so
   * under load the copy is made at most every WAL_COPY_INTERVAL_MS (after each save it cost ~10% of
   * the runs judged at 30k spans/s); see walCopyIntervalMs.
   */
  private saveHere(batch: RevisionBatch): SavedBatch {
    const appended = this.inTurn(this.db.transaction(() => appendBatch(this.store, batch)));
    const intakeIdle = this.afterSave(batch);
    if (performance.now() - this.walCopiedAtMs >= this.walCopyIntervalMs(intakeIdle)) {
      this.walCopiedAtMs = performance.now();
      try {
        this.db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // The batch committed: a failed copy must not make it look failed (and be saved again). The
        // intake writer's checkpoints copy it later, and log their own failures.
      }
    }
    return { ...appended, intakeIdle };
  }

  private restartLongWal(): void {
    try {
      restartWalPastLimit(this.db, this.config.storage.sqlite.busy_timeout_ms);
    } catch (err) {
      this.logger.error({ err }, 'starting the WAL over failed');
    }
  }

  /** After a save: notes whether intake wrote since the save before, and signs the head every so many records. */
  private afterSave(batch: RevisionBatch): boolean {
    const intakeWrites = this.turn?.intakeWrites();
    const intakeIdle = intakeWrites === this.intakeWritesAtSave;
    this.intakeWritesAtSave = intakeWrites;
    if (!intakeIdle) this.intakeQuietSinceMs = undefined;
    else this.intakeQuietSinceMs ??= performance.now();
    this.recordsSinceCheckpoint += batch.judged.length;
    if (this.recordsSinceCheckpoint >= this.config.integrity.checkpoint_every_records) this.checkpoint();
    return intakeIdle;
  }

  /**
   * How often a save here copies the WAL back. While intake writes nothing, its writer's thread copies
   * it (its timer, once a second: the core judging leaves free), so judging does not; without an
   * intake writer (one connection writing, as in bench:judge) saves copy it at the idle pace.
   */
  private walCopyIntervalMs(intakeIdle: boolean): number {
    if (!intakeIdle) return WAL_COPY_INTERVAL_MS;
    return this.turn === undefined ? IDLE_WAL_COPY_INTERVAL_MS : Number.POSITIVE_INFINITY;
  }

  /** Stops maintenance and signs the head. */
  shutdown(): void {
    clearInterval(this.maintenance);
    this.checkpoint();
  }

  private maintain(): void {
    this.maintenanceWaiting = this.appendingElsewhere;
    if (this.maintenanceWaiting) return;
    try {
      if (Date.now() - this.lastCheckpointMs >= this.config.integrity.checkpoint_interval_seconds * 1000) this.checkpoint();
      this.runRetention();
    } catch (err) {
      this.logger.error({ err }, 'history maintenance failed');
    }
  }

  /** Signs the chain head when it moved; a failure is logged, never fatal (the chain itself is intact). */
  private checkpoint(): void {
    try {
      if (this.inTurn(() => this.chain.writeCheckpoint(nowNs()))) {
        this.lastCheckpointMs = Date.now();
        this.events.checkpointWritten(this.lastCheckpointMs);
      }
      this.recordsSinceCheckpoint = 0;
    } catch (err) {
      this.logger.error({ err }, 'writing a checkpoint failed');
    }
  }

  /** Runs a transaction in its turn with the intake writer (see WriterTurn). */
  private inTurn<T>(transaction: () => T): T {
    return this.turn === undefined ? transaction() : this.turn.claim(transaction);
  }

  private runRetention(): void {
    const { retention } = this.config;
    if (retention.max_age_days === undefined && Object.keys(retention.by_kind).length === 0) return;
    if (Date.now() - this.lastPruneMs < retention.interval_minutes * 60_000) return;
    this.lastPruneMs = Date.now();
    const pruned = applyRetention(this.pruner, retention, nowNs());
    if (pruned.runs > 0) {
      this.events.pruned(pruned.runs, pruned.unforwardedSpans);
      this.logger.info(pruned, 'retention pruned runs');
    }
  }
}
