/**
 * Worker-thread entry of the intake writer: owns the only connection that writes spans, so SQLite
 * inserts and each commit's fsync run beside the thread that decodes and answers OTLP requests.
 * It also applies schema migrations, before anything else connects.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { createLogger } from '../logger.js';
import { openDatabase, type Database } from './database.js';
import type { FromIntake, ToIntake } from './intake-messages.js';
import { SpanIntake } from './span-intake.js';

const port = parentPort;
if (port === null) throw new Error('intake-worker must run in a worker thread');
const { config } = workerData as { config: Config };
const logger = createLogger(config.telemetry.logs.level).child({ component: 'store/intake' });
const send = (message: FromIntake) => port.postMessage(message);

let db: Database;
let intake: SpanIntake;
try {
  db = openDatabase(config.storage.sqlite);
  intake = new SpanIntake(db, logger);
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  throw err;
}

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
      send({ type: 'expired', spans: intake.expirePending(message.receivedBeforeNs) });
      return;
    case 'shutdown':
      intake.flush();
      db.close();
      logger.debug('intake writer closed');
      send({ type: 'closed' });
      port.close();
      return;
  }
});

send({ type: 'ready' });
