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
import { Lifecycle, type Component } from '../pipeline/component.js';
import { openDatabase, type Database } from '../store/database.js';
import { RunStore } from '../store/run-store.js';
import { HistoryWriter, type HistoryWriterDeps } from './history-writer.js';
import { RunAssembler } from './assembler.js';
import { RunLoader } from './run-loader.js';
import type { EvaluationReason } from './seal.js';
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

/**
 * Run history: assembles runs from committed spans, judges them against the evidence profiles and the
 * reloadable inventory and catalogue, seals each revision and saves each pass's revisions through
 * HistoryWriter (revisions, the chain, checkpoints, retention). It runs in a worker thread, so judging
 * runs never delays the answers to OTLP requests.
 */
export class RunHistory implements Component {
  private db: Database | undefined;
  private assembler: RunAssembler | undefined;
  private writer: HistoryWriter | undefined;
  private readonly referenceFiles: Array<WatchedFile<unknown>> = [];
  private readonly lifecycle = new Lifecycle('run history');

  constructor(
    private readonly config: Readonly<Config>,
    private readonly events: HistoryEvents,
    private readonly logger: Logger,
    /** The intake writer's turn and thread, when there is one (see HistoryWriter). */
    private readonly intakeWriter: HistoryWriterDeps = {},
  ) {}

  async start(): Promise<void> {
    this.lifecycle.begin();
    const { config, logger } = this;
    // One connection, for judging's reads and the writer's appends (the writer alone writes: one order
    // for the chain). SQLite drops a connection's page cache whenever another connection wrote, so a
    // separate reading connection started every pass cold: judging alone ran ~9% slower.
    const db = openDatabase(config.storage.sqlite);
    this.db = db;
    const writer = new HistoryWriter(db, config, this.events, logger.child({ component: 'runs/writer' }), this.intakeWriter);
    this.writer = writer;

    const inventory = await this.watch('identities', config.enrich.identities_file, loadInventory);
    const catalogue = await this.watch('policies', config.enrich.policies_file, loadCatalogue);
    const fieldKeys = resolveFieldKeys(config.evidence.fields);
    const context = {
      reader: new EvidenceReader(fieldKeys, Recognisers.fromConfig(config.evidence.recognisers)),
      profiles: resolveProfiles(config.evidence.profiles),
      identity: runIdentityFromConfig(config),
    };
    const keysRead = attributeKeysRead(fieldKeys, context.identity, context.profiles, context.reader.recognisers);
    const store = new RunStore(db);
    this.assembler = new RunAssembler(config.runs, writer, {
      store,
      loader: new RunLoader(store, keysRead === undefined ? undefined : new KeySelector(keysRead)),
      judge: {
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
      events: {
        evaluated: ({ summary, reason }) =>
          this.events.evaluated({
            workflow: summary.workflow,
            kind: summary.kind,
            status: summary.status,
            outcome: summary.outcome,
            findingCodes: summary.findingCodes,
            reason,
          }),
        capped: (cap) => this.events.capped(cap),
        duplicates: (count) => this.events.duplicates(count),
        evaluationFailed: () => this.events.evaluationFailed(),
        openRuns: (count) => this.events.openRuns(count),
      },
      logger: logger.child({ component: 'runs/assembler' }),
    });
    await this.assembler.start();
  }

  /** Committed spans touched these runs. */
  touched(runKeys: readonly string[]): void {
    this.assembler?.touched(runKeys);
  }

  /** Stops judging (never half-way: a pass is synchronous), signs the head, closes the store. */
  async shutdown(): Promise<void> {
    if (!this.lifecycle.end()) return;
    await this.assembler?.shutdown();
    for (const file of this.referenceFiles) await file.shutdown();
    this.writer?.shutdown();
    this.db?.close();
    this.db = undefined;
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
