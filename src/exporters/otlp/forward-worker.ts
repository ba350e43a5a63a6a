/**
 * Worker-thread entry of forwarding (exporters.otlp): reads the store through its own connection and
 * sends downstream, so building and sending export requests never delays an OTLP answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../../config/schema.js';
import { resolveFieldKeys } from '../../evidence/fields.js';
import { loadInventory, type Inventory } from '../../enrich/inventory.js';
import { WatchedFile } from '../../enrich/watched-file.js';
import { createLogger } from '../../logger.js';
import { lowerThreadPriority } from '../../pipeline/thread-priority.js';
import { openDatabase, type Database } from '../../store/database.js';
import { ForwardStore } from '../../store/forward-store.js';
import { WriterTurn } from '../../store/writer-turn.js';
import { Forwarder } from './forwarder.js';
import type { FromForward, ToForward } from './forward-messages.js';
import { OtlpGrpcClient, gzipOnThisThread } from './otlp-grpc-client.js';
import { OtlpHttpClient } from './otlp-http-client.js';
import { SpanEnricher } from './span-enrichment.js';

const port = parentPort;
if (port === null) throw new Error('forward-worker must run in a worker thread');
const { config, writerTurn } = workerData as { config: Config; writerTurn: SharedArrayBuffer };
const logger = createLogger(config.telemetry.logs.level).child({ component: 'exporters/otlp' });
const send = (message: FromForward) => port.postMessage(message);
// Forwarding is background work like judging: a backlog waits in the store and is sent as load eases.
lowerThreadPriority(logger);
gzipOnThisThread();

let db: Database | undefined;
let inventory: WatchedFile<Inventory> | undefined;
let forwarder: Forwarder | undefined;

async function start(): Promise<void> {
  const { endpoint, protocol } = config.exporters.otlp;
  if (endpoint === undefined) throw new Error('exporters.otlp.endpoint is not set');
  const exporterConfig = { ...config.exporters.otlp, endpoint };
  db = openDatabase(config.storage.sqlite);
  // Cursor writes need no fsync of their own: a lost one re-sends a little (at least once), and the
  // intake writer's next commit syncs the WAL anyway. Checkpoints are the intake writer's (see SpanIntake).
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
  const path = config.enrich.identities_file;
  if (path !== undefined) {
    const log = logger.child({ file: 'identities', path });
    inventory = new WatchedFile(path, loadInventory, {
      intervalMs: Math.max(1, Math.round(config.enrich.reload_interval_seconds * 1000)),
      onError: (err) => log.error({ err }, 'reference file reload failed; keeping the last good version'),
    });
    await inventory.start();
  }
  const turn = new WriterTurn(writerTurn, config.storage.sqlite.busy_timeout_ms);
  const store = new ForwardStore(db);
  const writeDb = db;
  forwarder = new Forwarder(config.exporters.otlp, {
    store,
    exporter: protocol === 'grpc' ? new OtlpGrpcClient(exporterConfig) : new OtlpHttpClient(exporterConfig),
    enricher: new SpanEnricher(resolveFieldKeys(config.evidence.fields)['actor.id'], () => inventory?.current()),
    write: (transaction) => turn.claim(writeDb.transaction(transaction)),
    events: {
      sent: (signal, result, count) => send({ type: 'sent', signal, result, count }),
      backlog: (signal, items, lagSeconds) => send({ type: 'backlog', signal, items, lagSeconds }),
    },
    logger,
  });
  await forwarder.start();
  logger.info({ endpoint, protocol, verdicts: config.exporters.otlp.verdicts }, 'forwarding started');
}

async function shutdown(): Promise<void> {
  try {
    await forwarder?.shutdown();
    await inventory?.shutdown();
  } catch (err) {
    logger.error({ err }, 'forwarding shutdown failed');
  }
  db?.close();
  send({ type: 'closed' });
  port?.close();
}

port.on('message', (message: ToForward) => {
  if (message.type === 'shutdown') void shutdown();
});

start().then(
  () => send({ type: 'ready' }),
  (err: unknown) => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
);
