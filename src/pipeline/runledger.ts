import { MessageChannel } from 'node:worker_threads';
import type { Logger } from 'pino';
import { buildEvidenceBundle } from '../api/evidence-bundle.js';
import type { Config } from '../config/schema.js';
import { HttpServer } from '../http/http-server.js';
import { createWorkerVerifier } from '../console/verify-in-worker.js';
import { resolveFieldKeys } from '../evidence/fields.js';
import { resolveProfiles } from '../evidence/profiles.js';
import { loadOrCreateSigningKey } from '../integrity/signing.js';
import { SpanFilter, filterAttributeKeys } from '../processors/filter/filter.js';
import { PodIdentityStage } from '../processors/pod-identity/pod-identity-stage.js';
import { KeySelector } from '../otlp/key-selector.js';
import { OtlpGrpcReceiver } from '../receiver/otlp-grpc-receiver.js';
import { OtlpHttpReceiver } from '../receiver/otlp-http-receiver.js';
import type { HistoryEvents } from '../runs/run-history.js';
import { RunLoader } from '../runs/run-loader.js';
import { runIdentityFromConfig } from '../runs/run-identity.js';
import { loadOrCreateHmacKey } from '../redaction/hmac-key.js';
import { createRedactor } from '../redaction/redactor.js';
import { ChainStore } from '../store/chain-store.js';
import { fileSize, openDatabase, type Database } from '../store/database.js';
import { RunQueries } from '../store/run-queries.js';
import { RunStore } from '../store/run-store.js';
import { SpanDirectory } from '../store/span-queries.js';
import { WriterTurn } from '../store/writer-turn.js';
import { ComplianceWindow } from '../telemetry/compliance-window.js';
import { BoundedLabel, createMetrics, type Metrics } from '../telemetry/metrics.js';
import { Lifecycle, type Component } from './component.js';
import { ForwardClient } from './forward-client.js';
import { HistoryClient } from './history-client.js';
import { IntakeClient } from './intake-client.js';

/** How often housekeeping (pending expiry, store size) runs. */
const HOUSEKEEPING_INTERVAL_MS = 5_000;

/**
 * The only module that knows the order of stages. Main thread:
 *   receiver (OTLP/gRPC, OTLP/HTTP) → pod identity → filter → intake client → history client
 * Intake writer worker (src/pipeline/intake-worker.ts): SQLite inserts, committed before the OTLP answer;
 *   while intake is idle, also the appends of run history's revisions (src/runs/revision-channel.ts).
 * History worker (src/runs/run-history.ts): run assembler → evaluate (profiles, inventory, catalogue)
 *   → run revision + hash chain + checkpoints + retention.
 * Forwarding worker (src/exporters/otlp/forward-worker.ts), when configured: committed spans and sealed
 *   revisions → downstream OTLP, behind cursors kept in the store.
 * Queries (HTTP API) read through a separate read-only connection.
 */
export class Runledger implements Component {
  readonly metrics: Metrics;
  private readonly compliance: ComplianceWindow;
  private readonly workflowLabel: BoundedLabel;
  private readDb: Database | undefined;
  private receiver: OtlpGrpcReceiver | undefined;
  private httpReceiver: OtlpHttpReceiver | undefined;
  private http: HttpServer | undefined;
  private intake: IntakeClient | undefined;
  private directory: SpanDirectory | undefined;
  private history: HistoryClient | undefined;
  private forward: ForwardClient | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private lastCheckpointMs: number | undefined;
  private readonly lifecycle = new Lifecycle('runledger');

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

  get otlpHttpPort(): number {
    return this.httpReceiver?.port ?? 0;
  }

  get httpPort(): number {
    return this.http?.port ?? 0;
  }

  async start(): Promise<void> {
    this.lifecycle.begin();
    const { config, logger, metrics } = this;
    // The threads that write SQLite (intake, run history's ledger, forwarding) take turns through this flag (see WriterTurn).
    const writerTurn = new WriterTurn();
    // Run history hands judged revisions to the intake writer on this channel while intake is idle.
    const appends = new MessageChannel();
    this.history = new HistoryClient(config, this.historyEvents(), logger.child({ component: 'runs/history' }), {
      turn: writerTurn,
      appendPort: appends.port1,
    });
    // The intake writer applies migrations: it starts before the history worker and readers connect.
    this.intake = new IntakeClient(config, {
      runs: this.history,
      logger: logger.child({ component: 'store/intake' }),
      writerTurn,
      appendPort: appends.port2,
    });
    await this.intake.start();
    logger.info({ path: config.storage.sqlite.path, synchronous: config.storage.sqlite.synchronous }, 'store opened');
    const signingKey = loadOrCreateSigningKey(config.integrity.signing_key_file);

    const readDb = openDatabase(config.storage.sqlite, { readonly: true });
    this.readDb = readDb;
    const runsReader = new RunStore(readDb);
    const runLoader = new RunLoader(runsReader);
    const windowStartNs = BigInt(Date.now() - config.telemetry.metrics.compliance_window_minutes * 60_000) * 1_000_000n;
    for (const r of runsReader.revisionsSince(windowStartNs)) {
      this.compliance.record(this.workflowLabel.value(r.workflow), r.status === 'compliant', Number(r.evaluatedNs / 1_000_000n));
    }

    this.directory = new SpanDirectory(readDb);
    const identity = runIdentityFromConfig(config);
    const filter = new SpanFilter(config.filter, this.intake, {
      identity,
      directory: this.directory,
      counters: { dropped: (reason, count) => metrics.spansDropped.inc({ reason }, count) },
    });
    const podIdentity = new PodIdentityStage(this.podIdentity, filter);
    // Both transports share one decode-and-intake path (src/receiver/otlp-intake.ts) and feed the same stages.
    const intakeDeps = {
      metrics,
      redactor: createRedactor(config.redaction, loadOrCreateHmacKey(config.redaction.hmac_key_file)),
      spanAttributes: new KeySelector(filterAttributeKeys(identity, config.filter)),
    };
    this.receiver = new OtlpGrpcReceiver(config.receiver.otlp_grpc, podIdentity, {
      ...intakeDeps,
      logger: logger.child({ component: 'receiver/otlp_grpc' }),
    });
    this.httpReceiver = new OtlpHttpReceiver(config.receiver.otlp_http, podIdentity, {
      ...intakeDeps,
      logger: logger.child({ component: 'receiver/otlp_http' }),
    });
    const evidenceSources = {
      queries: new RunQueries(readDb),
      runs: runLoader,
      chain: new ChainStore(readDb),
      publicKeyPem: signingKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
    this.http = new HttpServer(config.http, {
      logger: logger.child({ component: 'http' }),
      registry: metrics.registry,
      health: { notReady: () => this.notReady() },
      runs: { queries: () => evidenceSources.queries, evidence: (runKey) => buildEvidenceBundle(evidenceSources, runKey) },
      console: {
        queries: () => evidenceSources.queries,
        chain: () => evidenceSources.chain,
        evidence: (runKey) => buildEvidenceBundle(evidenceSources, runKey),
        spans: (runKey) => runLoader.loadRun(runKey).spans,
        profiles: resolveProfiles(config.evidence.profiles),
        fieldKeys: resolveFieldKeys(config.evidence.fields),
        verify: createWorkerVerifier(config),
        publicKey: signingKey.publicKey,
        logger: logger.child({ component: 'console' }),
      },
    });

    await this.history.start();
    if (config.exporters.otlp.endpoint !== undefined) {
      this.forward = new ForwardClient(config, metrics, logger.child({ component: 'exporters/otlp' }), writerTurn);
      await this.forward.start();
    }
    await this.http.start();
    await this.receiver.start();
    await this.httpReceiver.start();
    this.runHousekeeping();
    this.housekeeping = setInterval(() => this.runHousekeeping(), HOUSEKEEPING_INTERVAL_MS);
    this.housekeeping.unref();
  }

  /** Stop accepting, answer what is in flight (committed by then), stop history, close the store. */
  async shutdown(): Promise<void> {
    if (!this.lifecycle.end()) return;
    clearInterval(this.housekeeping);
    await Promise.all([this.receiver?.shutdown(), this.httpReceiver?.shutdown()]);
    await this.history?.shutdown();
    await this.forward?.shutdown();
    await this.http?.shutdown();
    this.readDb?.close();
    this.readDb = undefined;
    // The writer closes last: the last connection to close checkpoints the WAL and removes it.
    await this.intake?.shutdown();
    this.logger.info('store closed');
  }

  private historyEvents(): HistoryEvents {
    const { metrics, compliance, workflowLabel } = this;
    return {
      evaluated: (summary) => {
        const workflow = workflowLabel.value(summary.workflow);
        metrics.runsEvaluated.inc({ workflow, kind: summary.kind ?? 'default', status: summary.status, outcome: summary.outcome });
        for (const code of summary.findingCodes) metrics.findings.inc({ workflow, code });
        compliance.record(workflow, summary.status === 'compliant', Date.now());
      },
      capped: (cap) => metrics.runsCapped.inc({ cap }),
      duplicates: (count) => metrics.spansDuplicate.inc(count),
      evaluationFailed: () => metrics.evaluationFailures.inc(),
      openRuns: (count) => metrics.runsOpen.set(count),
      checkpointWritten: (atMs) => (this.lastCheckpointMs = atMs),
      referenceReload: (file, result) => metrics.referenceReloads.inc({ file, result }),
      pruned: (runs, unforwardedSpans) => {
        metrics.runsPruned.inc(runs);
        if (unforwardedSpans > 0) metrics.forwardSent.inc({ signal: 'traces', result: 'expired' }, unforwardedSpans);
      },
    };
  }

  private notReady(): string[] {
    const parts: string[] = [];
    if (this.intake === undefined || !this.intake.running || this.readDb === undefined || !this.readDb.open) parts.push('store');
    if (!this.receiver?.listening || !this.httpReceiver?.listening) parts.push('receiver');
    if (this.history === undefined || !this.history.running) parts.push('history');
    if (this.forward !== undefined && !this.forward.running) parts.push('forwarding');
    return parts;
  }

  private runHousekeeping(): void {
    const { intake, metrics, config } = this;
    if (intake === undefined) return;
    try {
      const cutoff = BigInt(Date.now() - config.filter.pending_ttl_ms) * 1_000_000n;
      intake.expirePending(cutoff, (expired) => {
        if (expired > 0) metrics.spansDropped.inc({ reason: 'pending_expired' }, expired);
      });
      const path = config.storage.sqlite.path;
      metrics.storeBytes.set(fileSize(path) + fileSize(`${path}-wal`));
    } catch (err) {
      this.logger.error({ err }, 'housekeeping failed');
    }
  }
}
