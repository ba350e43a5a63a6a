/**
 * Worker-thread entry of the intake writer: owns the only connection that writes spans, so SQLite
 * inserts and each commit's fsync run beside the thread that decodes and answers OTLP requests.
 * It also applies schema migrations, before anything else connects. While intake is idle, it appends
 * the run revisions run history sends it (see HistoryWriter.save).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { createLogger } from '../logger.js';
import { serveAppends } from '../runs/revision-channel.js';
import { openDatabase, type Database } from '../store/database.js';
import type { FromIntake, ToIntake } from '../store/intake-messages.js';
import { SpanIntake } from '../store/span-intake.js';
import { WriterTurn } from '../store/writer-turn.js';

const port = parentPort;
if (port === null) throw new Error('intake-worker must run in a worker thread');
const { config, writerTurn, appendPort } = workerData as { config: Config; writerTurn: SharedArrayBuffer; appendPort: MessagePort };
const logger = createLogger(config.telemetry.logs.level).child({ component: 'store/intake' });
const send = (message: FromIntake) => port.postMessage(message);
const WAL_CHECKPOINT_INTERVAL_MS = 1_000;

let db: Database;
let intake: SpanIntake;
try {
  db = openDatabase(config.storage.sqlite);
  const forward = config.exporters.otlp;
  intake = new SpanIntake(
    db,
    logger,
    new WriterTurn(writerTurn, config.storage.sqlite.busy_timeout_ms),
    forward.endpoint === undefined ? undefined : { maxBacklogAgeMs: forward.max_backlog_age_minutes * 60_000 },
  );
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  throw err;
}
serveAppends(appendPort, db, config);

// Commits checkpoint once the WAL is large; this also covers a quiet intake while run history writes.
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
      appendPort.close();
      db.close();
      logger.debug('intake writer closed');
      send({ type: 'closed' });
      port.close();
      return;
  }
});

send({ type: 'ready' });
