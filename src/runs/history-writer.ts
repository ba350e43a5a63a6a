import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { loadOrCreateSigningKey } from '../integrity/signing.js';
import { applyRetention } from '../retention/retention.js';
import { ChainStore } from '../store/chain-store.js';
import type { Database } from '../store/database.js';
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

/** Where judged revisions go to be appended: the writer thread, or a HistoryWriter on this one. */
export interface RevisionSink {
  save(batch: RevisionBatch): Promise<SavedBatch>;
}

/** What the writer side of run history reports. */
export interface HistoryWriterEvents {
  checkpointWritten(atMs: number): void;
  /** Runs removed by retention, and their spans forwarding had not sent yet. */
  pruned(runs: number, unforwardedSpans: number): void;
}

/** Appends a batch's revisions and closes its unchanged runs; call inside a transaction. */
export function appendBatch(store: RunStore, batch: RevisionBatch): Omit<SavedBatch, 'intakeIdle'> {
  return {
    saved: batch.judged.map((j) => store.saveRevision(j.prepared, j.loadedLastNs, j.duplicates, renumbered)),
    closed: batch.unchanged.map((u) => store.saveUnchanged(u.runKey, u.loadedLastNs, u.duplicates)),
  };
}

const MAINTENANCE_INTERVAL_MS = 5_000;
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * The writing end of run history: appends judged revisions to the store and the hash chain, signs
 * checkpoints and applies retention. It lives on the thread that writes spans (the intake writer), so
 * the store has one writer and the chain one strict sequence, while judging (the history worker)
 * reads and evaluates the next runs in parallel.
 */
export class HistoryWriter implements RevisionSink {
  private readonly chain: ChainStore;
  private readonly store: RunStore;
  private readonly pruner: Pruner;
  private readonly maintenance: NodeJS.Timeout;
  private recordsSinceCheckpoint = 0;
  private lastCheckpointMs = 0;
  private lastPruneMs = 0;
  private intakeCommitsAtSave: number | undefined;

  constructor(
    private readonly db: Database,
    private readonly config: Readonly<Config>,
    private readonly events: HistoryWriterEvents,
    private readonly logger: Logger,
    private readonly deps: {
      /** Shared with forwarding, which writes its cursors through another connection. */
      readonly turn?: WriterTurn;
      /** Intake's commits so far on this thread (absent when nothing else writes). */
      readonly intakeCommits?: () => number;
    } = {},
  ) {
    const signingKey = loadOrCreateSigningKey(config.integrity.signing_key_file);
    this.chain = new ChainStore(db, signingKey, config.integrity.origin);
    this.chain.recordStart(nowNs(), RUNLEDGER_VERSION);
    logger.info({ key_id: signingKey.keyId, head_seq: this.chain.head().seq }, 'integrity chain started');
    this.store = new RunStore(db, this.chain);
    this.pruner = new Pruner(db, this.chain, config.exporters.otlp.endpoint !== undefined);
    this.maintain();
    const interval = Math.min(MAINTENANCE_INTERVAL_MS, config.integrity.checkpoint_interval_seconds * 1000);
    this.maintenance = setInterval(() => this.maintain(), interval);
  }

  /** Appends a batch in one transaction (all of it or, on error, none). */
  save(batch: RevisionBatch): Promise<SavedBatch> {
    try {
      return Promise.resolve(this.saveNow(batch));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  saveNow(batch: RevisionBatch): SavedBatch {
    const written = this.inTurn(this.db.transaction(() => appendBatch(this.store, batch)));
    const intakeCommits = this.deps.intakeCommits?.();
    const intakeIdle = intakeCommits === this.intakeCommitsAtSave;
    this.intakeCommitsAtSave = intakeCommits;
    this.recordsSinceCheckpoint += batch.judged.length;
    if (this.recordsSinceCheckpoint >= this.config.integrity.checkpoint_every_records) this.checkpoint();
    return { ...written, intakeIdle };
  }

  /** Stops maintenance and signs the head. */
  shutdown(): void {
    clearInterval(this.maintenance);
    this.checkpoint();
  }

  private maintain(): void {
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

  /** Runs a transaction in its turn with forwarding's cursor writes (see WriterTurn). */
  private inTurn<T>(transaction: () => T): T {
    return this.deps.turn === undefined ? transaction() : this.deps.turn.write(transaction);
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
