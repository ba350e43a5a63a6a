import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { evaluateRun } from '../evidence/evaluate.js';
import { awaitsRoot } from '../evidence/run-root.js';
import { resolveFieldKeys } from '../evidence/fields.js';
import { attributeKeysRead } from '../evidence/keys-read.js';
import { Recognisers } from '../evidence/recognisers.js';
import { KeySelector } from '../otlp/key-selector.js';
import { resolveProfiles } from '../evidence/profiles.js';
import { EvidenceReader } from '../evidence/steps.js';
import { loadCatalogue } from '../enrich/catalogue.js';
import { loadInventory } from '../enrich/inventory.js';
import { WatchedFile } from '../enrich/watched-file.js';
import { loadOrCreateSigningKey } from '../integrity/signing.js';
import { Lifecycle, type Component } from '../pipeline/component.js';
import { applyRetention } from '../retention/retention.js';
import { ChainStore } from '../store/chain-store.js';
import { openDatabase, type Database } from '../store/database.js';
import type { WriterTurn } from '../store/writer-turn.js';
import { Pruner } from '../store/pruner.js';
import { RunStore, type EvaluationReason, type PreparedRevision } from '../store/run-store.js';
import { RUNLEDGER_VERSION } from '../version.js';
import { RunAssembler } from './assembler.js';
import { runIdentityFromConfig } from './run-identity.js';

/** What the history side reports; in the worker these become messages, in main metrics. */
export interface HistoryEvents {
  evaluated(summary: VerdictSummary): void;
  capped(cap: 'max_spans_per_run' | 'max_open_runs'): void;
  duplicates(count: number): void;
  evaluationFailed(): void;
  openRuns(count: number): void;
  checkpointWritten(atMs: number): void;
  referenceReload(file: 'identities' | 'policies', result: 'loaded' | 'failed'): void;
  /** Runs removed by retention, and their spans forwarding had not sent yet. */
  pruned(runs: number, unforwardedSpans: number): void;
}

/** The part of a verdict metrics need (small enough to post between threads). */
export interface VerdictSummary {
  readonly workflow: string | null;
  readonly kind: string | null;
  readonly status: string;
  readonly outcome: string;
  readonly findingCodes: readonly string[];
  readonly reason: EvaluationReason;
}

const MAINTENANCE_INTERVAL_MS = 5_000;
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * Run history: assembles runs from committed spans, judges them against the evidence profiles and
 * the reloadable inventory and catalogue, saves each revision into the hash chain, signs checkpoints
 * and applies retention. It owns its own database connection and runs in a worker thread, so
 * judging runs never delays the answers to OTLP requests.
 */
export class RunHistory implements Component {
  private db: Database | undefined;
  private assembler: RunAssembler | undefined;
  private chain: ChainStore | undefined;
  private pruner: Pruner | undefined;
  private maintenance: NodeJS.Timeout | undefined;
  private readonly referenceFiles: Array<WatchedFile<unknown>> = [];
  private recordsSinceCheckpoint = 0;
  private lastCheckpointMs = 0;
  private lastPruneMs = 0;
  private readonly lifecycle = new Lifecycle('run history');

  constructor(
    private readonly config: Readonly<Config>,
    private readonly events: HistoryEvents,
    private readonly logger: Logger,
    /** Shared with the intake writer (see WriterTurn); absent when nothing else writes. */
    private readonly writerTurn?: WriterTurn,
  ) {}

  async start(): Promise<void> {
    this.lifecycle.begin();
    const { config, logger } = this;
    const db = openDatabase(config.storage.sqlite);
    // Not inside this thread's commits, which hold the intake writer back: RunStore checkpoints after
    // them, and the intake writer's own checkpoints keep the WAL bounded (see SpanIntake).
    db.pragma('wal_autocheckpoint = 0');
    this.db = db;
    const signingKey = loadOrCreateSigningKey(config.integrity.signing_key_file);
    this.chain = new ChainStore(db, signingKey, config.integrity.origin);
    this.chain.recordStart(nowNs(), RUNLEDGER_VERSION);
    logger.info({ key_id: signingKey.keyId, head_seq: this.chain.head().seq }, 'integrity chain started');
    this.pruner = new Pruner(db, this.chain, config.exporters.otlp.endpoint !== undefined);

    const inventory = await this.watch('identities', config.enrich.identities_file, loadInventory);
    const catalogue = await this.watch('policies', config.enrich.policies_file, loadCatalogue);
    const fieldKeys = resolveFieldKeys(config.evidence.fields);
    const context = {
      reader: new EvidenceReader(fieldKeys, Recognisers.fromConfig(config.evidence.recognisers)),
      profiles: resolveProfiles(config.evidence.profiles),
      identity: runIdentityFromConfig(config),
    };
    const keysRead = attributeKeysRead(fieldKeys, context.identity, context.profiles, context.reader.recognisers);
    const store = new RunStore(db, this.chain, this.writerTurn, keysRead === undefined ? undefined : new KeySelector(keysRead));
    this.assembler = new RunAssembler(
      config.runs,
      store,
      {
        evaluate: (input, history) => {
          const inv = inventory?.current();
          const cat = catalogue?.current();
          return evaluateRun(input, {
            ...context,
            history,
            enrichment: { ...(inv !== undefined ? { inventory: inv } : {}), ...(cat !== undefined ? { catalogue: cat } : {}) },
          });
        },
        awaitsRoot: (spans) => awaitsRoot(spans, context.identity),
      },
      {
        evaluated: (revision) => this.onEvaluated(revision),
        capped: (cap) => this.events.capped(cap),
        duplicates: (count) => this.events.duplicates(count),
        evaluationFailed: () => this.events.evaluationFailed(),
        openRuns: (count) => this.events.openRuns(count),
      },
      logger.child({ component: 'runs/assembler' }),
    );
    await this.assembler.start();
    this.maintain();
    const interval = Math.min(MAINTENANCE_INTERVAL_MS, config.integrity.checkpoint_interval_seconds * 1000);
    this.maintenance = setInterval(() => this.maintain(), interval);
  }

  /** Committed spans touched these runs. */
  touched(runKeys: readonly string[]): void {
    this.assembler?.touched(runKeys);
  }

  /** Stops judging (never half-way: a pass is synchronous), signs the head, closes the store. */
  async shutdown(): Promise<void> {
    if (!this.lifecycle.end()) return;
    clearInterval(this.maintenance);
    await this.assembler?.shutdown();
    for (const file of this.referenceFiles) await file.shutdown();
    this.checkpoint();
    this.db?.close();
    this.db = undefined;
  }

  private onEvaluated({ summary, reason }: PreparedRevision): void {
    this.events.evaluated({
      workflow: summary.workflow,
      kind: summary.kind,
      status: summary.status,
      outcome: summary.outcome,
      findingCodes: summary.findingCodes,
      reason,
    });
    if (++this.recordsSinceCheckpoint >= this.config.integrity.checkpoint_every_records) this.checkpoint();
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
    if (this.chain === undefined || this.db === undefined) return;
    try {
      // A short transaction: it takes its turn like a save (see WriterTurn) rather than losing every
      // race with an intake writer under load.
      const chain = this.chain;
      const write = () => chain.writeCheckpoint(nowNs());
      if (this.writerTurn === undefined ? write() : this.writerTurn.claim(write)) {
        this.lastCheckpointMs = Date.now();
        this.events.checkpointWritten(this.lastCheckpointMs);
      }
      this.recordsSinceCheckpoint = 0;
    } catch (err) {
      this.logger.error({ err }, 'writing a checkpoint failed');
    }
  }

  private runRetention(): void {
    const { retention } = this.config;
    if (this.pruner === undefined || (retention.max_age_days === undefined && Object.keys(retention.by_kind).length === 0)) return;
    if (Date.now() - this.lastPruneMs < retention.interval_minutes * 60_000) return;
    this.lastPruneMs = Date.now();
    const pruned = applyRetention(this.pruner, retention, nowNs());
    if (pruned.runs > 0) {
      this.events.pruned(pruned.runs, pruned.unforwardedSpans);
      this.logger.info(pruned, 'retention pruned runs');
    }
  }

  /** Loads a reference file (failing the start when broken) and keeps reloading it. */
  private async watch<T extends { revision: string }>(
    name: 'identities' | 'policies',
    path: string | undefined,
    load: (path: string) => T,
  ): Promise<WatchedFile<T> | undefined> {
    if (path === undefined) return undefined;
    const log = this.logger.child({ component: 'enrich', file: name, path });
    const file = new WatchedFile(path, load, {
      intervalMs: Math.max(1, Math.round(this.config.enrich.reload_interval_seconds * 1000)),
      onReload: (value) => {
        this.events.referenceReload(name, 'loaded');
        log.info({ revision: value.revision }, 'reference file loaded');
      },
      onError: (err) => {
        this.events.referenceReload(name, 'failed');
        log.error({ err }, 'reference file reload failed; keeping the last good version');
      },
    });
    await file.start();
    this.referenceFiles.push(file as WatchedFile<unknown>);
    return file;
  }
}
