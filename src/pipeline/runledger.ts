import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { evaluateRun } from '../evidence/evaluate.js';
import { resolveFieldKeys, runIdentityKeys } from '../evidence/fields.js';
import { resolveProfiles } from '../evidence/profiles.js';
import { EvidenceReader } from '../evidence/steps.js';
import { RunAssembler } from '../runs/assembler.js';
import { RunIdentity } from '../runs/run-identity.js';
import { RunStore } from '../store/run-store.js';
import { ChainStore } from '../store/chain-store.js';
import { loadOrCreateSigningKey } from '../integrity/signing.js';
import { Pruner } from '../store/pruner.js';
import { WatchedFile } from '../enrich/watched-file.js';
import { loadInventory } from '../enrich/inventory.js';
import { loadCatalogue } from '../enrich/catalogue.js';
import { PodIdentityStage } from '../processors/pod-identity/pod-identity-stage.js';
import { applyRetention } from '../retention/retention.js';
import { RunQueries } from '../store/run-queries.js';
import { buildEvidenceBundle } from '../api/evidence-bundle.js';
import { HttpServer } from '../http/http-server.js';
import { SpanFilter } from '../processors/filter/filter.js';
import { OtlpGrpcReceiver } from '../receiver/otlp-grpc-receiver.js';
import { openDatabase, type Database } from '../store/database.js';
import { SpanIntake } from '../store/span-intake.js';
import { SpanDirectory } from '../store/span-queries.js';
import { BoundedLabel, createMetrics, type Metrics } from '../telemetry/metrics.js';
import { ComplianceWindow } from '../telemetry/compliance-window.js';
import type { Component } from './component.js';
import { RUNLEDGER_VERSION } from '../version.js';

/** How often housekeeping (pending expiry, store size, checkpoints) runs. */
const HOUSEKEEPING_INTERVAL_MS = 5_000;

/**
 * The only module that knows the order of stages:
 * receiver → pod identity → filter → intake (SQLite, committed before the OTLP answer) → run assembler
 * → evaluate (with the reloadable inventory and catalogue) → run history and hash chain.
 */
export class Runledger implements Component {
  readonly metrics: Metrics;
  private readonly compliance: ComplianceWindow;
  private readonly workflowLabel: BoundedLabel;
  private chain: ChainStore | undefined;
  private recordsSinceCheckpoint = 0;
  private lastCheckpointMs: number | undefined;
  private pruner: Pruner | undefined;
  private lastPruneMs = 0;
  private db: Database | undefined;
  /** A second connection for queries, so API reads never wait behind intake's transaction. */
  private readDb: Database | undefined;
  private receiver: OtlpGrpcReceiver | undefined;
  private http: HttpServer | undefined;
  private intake: SpanIntake | undefined;
  private directory: SpanDirectory | undefined;
  private assembler: RunAssembler | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private state: 'new' | 'started' | 'stopped' = 'new';

  private readonly referenceFiles: Array<WatchedFile<unknown>> = [];

  constructor(
    private readonly config: Readonly<Config>,
    private readonly logger: Logger,
    /** Downward-API pod identity as resource attributes (read from the environment by main). */
    private readonly podIdentity: Readonly<Record<string, string>> = {},
  ) {
    this.compliance = new ComplianceWindow(config.telemetry.metrics.compliance_window_minutes);
    this.workflowLabel = new BoundedLabel(config.telemetry.metrics.max_workflow_labels);
    this.metrics = createMetrics({
      complianceRatios: () => this.compliance.ratios(Date.now()),
      lastCheckpointAge: () => (this.lastCheckpointMs === undefined ? undefined : (Date.now() - this.lastCheckpointMs) / 1000),
    });
  }

  get grpcPort(): number {
    return this.receiver?.port ?? 0;
  }

  get httpPort(): number {
    return this.http?.port ?? 0;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot start runledger in state ${this.state}`);
    this.state = 'started';
    const { config, logger, metrics } = this;
    const db = openDatabase(config.storage.sqlite);
    this.db = db;
    logger.info({ path: config.storage.sqlite.path, synchronous: config.storage.sqlite.synchronous }, 'store opened');

    const fieldKeys = resolveFieldKeys(config.evidence.fields);
    const identity = new RunIdentity(fieldKeys['run.id'], runIdentityKeys(fieldKeys), config.filter.include);
    const evaluation = {
      reader: new EvidenceReader(fieldKeys),
      profiles: resolveProfiles(config.evidence.profiles),
      identity,
    };
    const signingKey = loadOrCreateSigningKey(config.integrity.signing_key_file);
    this.chain = new ChainStore(db, signingKey, config.integrity.origin);
    this.chain.recordStart(nowNs(), RUNLEDGER_VERSION);
    logger.info({ key_id: signingKey.keyId, head_seq: this.chain.head().seq }, 'integrity chain started');
    const inventory = await this.watch('identities', config.enrich.identities_file, loadInventory);
    const catalogue = await this.watch('policies', config.enrich.policies_file, loadCatalogue);
    const runStore = new RunStore(db, this.chain);
    this.pruner = new Pruner(db, this.chain);
    const { compliance, workflowLabel } = this;
    const windowStartNs = BigInt(Date.now() - config.telemetry.metrics.compliance_window_minutes * 60_000) * 1_000_000n;
    for (const r of runStore.revisionsSince(windowStartNs)) {
      compliance.record(workflowLabel.value(r.workflow), r.status === 'compliant', Number(r.evaluatedNs / 1_000_000n));
    }
    this.assembler = new RunAssembler(
      config.runs,
      runStore,
      (input) =>
        evaluateRun(input, {
          ...evaluation,
          history: runStore,
          enrichment: {
            ...(inventory?.current() !== undefined ? { inventory: inventory.current()! } : {}),
            ...(catalogue?.current() !== undefined ? { catalogue: catalogue.current()! } : {}),
          },
        }),
      {
        evaluated: (verdict) => {
          const workflow = workflowLabel.value(verdict.workflow);
          metrics.runsEvaluated.inc({ workflow, kind: verdict.kind ?? 'default', status: verdict.status, outcome: verdict.outcome });
          for (const f of verdict.findings) metrics.findings.inc({ workflow, code: f.code });
          compliance.record(workflow, verdict.status === 'compliant', Date.now());
          if (++this.recordsSinceCheckpoint >= config.integrity.checkpoint_every_records) this.checkpoint();
        },
        capped: (cap) => metrics.runsCapped.inc({ cap }),
        evaluationFailed: () => metrics.evaluationFailures.inc(),
        openRuns: (count) => metrics.runsOpen.set(count),
      },
      logger.child({ component: 'runs/assembler' }),
    );
    this.directory = new SpanDirectory(db);
    this.intake = new SpanIntake(db, this.assembler, logger.child({ component: 'store/intake' }));
    const filter = new SpanFilter(
      {
        config: config.filter,
        identity,
        directory: this.directory,
        counters: { dropped: (reason, count) => metrics.spansDropped.inc({ reason }, count) },
      },
      this.intake,
    );
    const podIdentity = new PodIdentityStage(this.podIdentity, filter);
    this.receiver = new OtlpGrpcReceiver(config.receiver.otlp_grpc, podIdentity, {
      logger: logger.child({ component: 'receiver/otlp_grpc' }),
      metrics,
    });
    const readDb = openDatabase(config.storage.sqlite, { readonly: true });
    this.readDb = readDb;
    const evidenceSources = {
      queries: new RunQueries(readDb),
      runs: new RunStore(readDb),
      chain: new ChainStore(readDb, undefined, config.integrity.origin),
      publicKeyPem: signingKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
    this.http = new HttpServer(config.http, {
      logger: logger.child({ component: 'http' }),
      registry: metrics.registry,
      health: { notReady: () => this.notReady() },
      runs: { queries: () => evidenceSources.queries, evidence: (runKey) => buildEvidenceBundle(evidenceSources, runKey) },
    });

    await this.assembler.start();
    await this.http.start();
    await this.receiver.start();
    this.runHousekeeping();
    const housekeepingMs = Math.min(HOUSEKEEPING_INTERVAL_MS, config.integrity.checkpoint_interval_seconds * 1000);
    this.housekeeping = setInterval(() => this.runHousekeeping(), housekeepingMs);
    this.housekeeping.unref();
  }

  /** Stop accepting, answer what is in flight, commit what is queued, close the store. */
  async shutdown(): Promise<void> {
    if (this.state !== 'started') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    clearInterval(this.housekeeping);
    for (const file of this.referenceFiles) await file.shutdown();
    await this.receiver?.shutdown();
    this.intake?.flush();
    // Evaluation is synchronous, so stopping its timer never leaves a run judged half-way.
    await this.assembler?.shutdown();
    await this.http?.shutdown();
    this.checkpoint();
    this.readDb?.close();
    this.readDb = undefined;
    this.db?.close();
    this.db = undefined;
    this.logger.info('store closed');
  }

  /** Loads a reference file (failing the start when broken) and keeps reloading it while serving. */
  private async watch<T extends { revision: string }>(
    name: 'identities' | 'policies',
    path: string | undefined,
    load: (path: string) => T,
  ): Promise<WatchedFile<T> | undefined> {
    if (path === undefined) return undefined;
    const log = this.logger.child({ component: 'enrich', file: name, path });
    const file = new WatchedFile(path, load, {
      intervalMs: this.config.enrich.reload_interval_seconds * 1000,
      onReload: (value) => {
        this.metrics.referenceReloads.inc({ file: name, result: 'loaded' });
        log.info({ revision: value.revision }, 'reference file loaded');
      },
      onError: (err) => {
        this.metrics.referenceReloads.inc({ file: name, result: 'failed' });
        log.error({ err }, 'reference file reload failed; keeping the last good version');
      },
    });
    await file.start();
    this.referenceFiles.push(file as WatchedFile<unknown>);
    return file;
  }

  private runRetention(): void {
    const { retention } = this.config;
    if (this.pruner === undefined || (retention.max_age_days === undefined && Object.keys(retention.by_kind).length === 0)) return;
    if (Date.now() - this.lastPruneMs < retention.interval_minutes * 60_000) return;
    this.lastPruneMs = Date.now();
    const pruned = applyRetention(this.pruner, retention, nowNs());
    if (pruned.runs > 0) {
      this.metrics.runsPruned.inc(pruned.runs);
      this.logger.info(pruned, 'retention pruned runs');
    }
  }

  /** Signs the chain head when it moved; a failure is logged, never fatal (the chain itself is intact). */
  private checkpoint(): void {
    if (this.chain === undefined || this.db === undefined) return;
    try {
      if (this.chain.writeCheckpoint(nowNs())) this.lastCheckpointMs = Date.now();
      this.recordsSinceCheckpoint = 0;
    } catch (err) {
      this.logger.error({ err }, 'writing a checkpoint failed');
    }
  }

  private notReady(): string[] {
    const parts: string[] = [];
    if (this.db === undefined || !this.db.open) parts.push('store');
    if (this.receiver === undefined || !this.receiver.listening) parts.push('receiver');
    return parts;
  }

  private runHousekeeping(): void {
    const { db, directory, metrics, config } = this;
    if (db === undefined || directory === undefined) return;
    try {
      const cutoff = BigInt(Date.now() - config.filter.pending_ttl_ms) * 1_000_000n;
      const expired = directory.expirePending(cutoff);
      if (expired > 0) metrics.spansDropped.inc({ reason: 'pending_expired' }, expired);
      metrics.storeBytes.set(fileSize(db.name) + fileSize(`${db.name}-wal`));
      this.runRetention();
      const intervalMs = config.integrity.checkpoint_interval_seconds * 1000;
      if (this.lastCheckpointMs === undefined || Date.now() - this.lastCheckpointMs >= intervalMs) this.checkpoint();
    } catch (err) {
      this.logger.error({ err }, 'housekeeping failed');
    }
  }
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // the WAL does not exist between checkpoints
  }
}
