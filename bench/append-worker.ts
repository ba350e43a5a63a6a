/**
 * Worker-thread entry for `bench:judge --appender`: the intake writer's end of the revision channel,
 * alone. Its connection is set up as the intake writer's (SpanIntake: page cache, WAL checkpoints after
 * commits and once a second, as in src/pipeline/intake-worker.ts), so the appends cost what they do in `serve`.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import pino from 'pino';
import type { Config } from '../src/config/schema.js';
import { serveAppends } from '../src/runs/revision-channel.js';
import { openDatabase } from '../src/store/database.js';
import { SpanIntake } from '../src/store/span-intake.js';

const { config, port } = workerData as { config: Config; port: MessagePort };
const db = openDatabase(config.storage.sqlite);
const intake = new SpanIntake(db, pino({ level: 'warn' }));
const walCheckpoints = setInterval(() => intake.checkpointWal(), 1_000);
serveAppends(port, db, config);
port.once('close', () => {
  clearInterval(walCheckpoints);
  db.close();
});
