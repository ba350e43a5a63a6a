/**
 * Worker-thread entry of the store writer: owns the only connection that writes — spans (intake) and
 * run history's revisions, chain, checkpoints and retention (HistoryWriter) — so SQLite inserts and
 * each commit's fsync run beside the thread that decodes and answers OTLP requests, and the chain has
 * one order. It also applies schema migrations, before anything else connects.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { createLogger } from '../logger.js';
import { HistoryWriter } from '../runs/history-writer.js';
import { serveRevisions } from '../runs/writer-channel.js';
import { openDatabase, type Database } from '../store/database.js';
import type { FromIntake, ToIntake } from '../store/intake-messages.js';
import { SpanIntake } from '../store/span-intake.js';
import { WriterTurn } from '../store/writer-turn.js';

const port = parentPort;
if (port === null) throw new Error('writer-worker must run in a worker thread');
const { config, writerTurn, historyPort } = workerData as { config: Config; writerTurn: SharedArrayBuffer; historyPort: MessagePort };
const rootLogger = createLogger(config.telemetry.logs.level);
const logger = rootLogger.child({ component: 'store/intake' });
const send = (message: FromIntake) => port.postMessage(message);
const WAL_CHECKPOINT_INTERVAL_MS = 1_000;

let db: Database;
let intake: SpanIntake;
let history: HistoryWriter | undefined;
try {
  db = openDatabase(config.storage.sqlite);
  const forward = config.exporters.otlp;
  const turn = new WriterTurn(writerTurn, config.storage.sqlite.busy_timeout_ms);
  intake = new SpanIntake(db, logger, turn, forward.endpoint === undefined ? undefined : { maxBacklogAgeMs: forward.max_backlog_age_minutes * 60_000 });
  const historyEvents = serveRevisions(historyPort, () => history);
  history = new HistoryWriter(db, config, historyEvents, rootLogger.child({ component: 'runs/writer' }), {
    turn,
    intakeCommits: () => intake.commits,
  });
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  throw err;
}

// Commits checkpoint once the WAL is large; this also covers a quiet intake.
const walCheckpoints = setInterval(() => intake.checkpointWal(), WAL_CHECKPOINT_INTERVAL_MS);

port.on('message', (message: ToIntake) => {
  switch (message.type) {
    case 'rows': {
      const { id } = message;
      intake.enqueue(message.rows).then(
        () => send({ type: 'committed', id }),
        (err: unknown) => send({ type: 'not_committed', id, message: err instanceof Error ? err.message : String(err) }),
      );
      return;
    }
    case 'expire_pending':
      try {
        send({ type: 'expired', spans: intake.expirePending(message.receivedBeforeNs) });
      } catch (err) {
        // Locked by a reader or a backup: the next housekeeping round tries again.
        logger.error({ err }, 'expiring pending spans failed');
      }
      return;
    case 'shutdown':
      clearInterval(walCheckpoints);
      intake.flush();
      history?.shutdown();
      history = undefined;
      historyPort.close();
      db.close();
      logger.debug('store writer closed');
      send({ type: 'closed' });
      port.close();
      return;
  }
});

send({ type: 'ready' });
