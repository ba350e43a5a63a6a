/** Worker-thread entry for `bench:judge --appender`: the intake writer's end of the revision channel, alone. */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { Config } from '../src/config/schema.js';
import { serveAppends } from '../src/runs/revision-channel.js';
import { openDatabase } from '../src/store/database.js';

const { config, port } = workerData as { config: Config; port: MessagePort };
const db = openDatabase(config.storage.sqlite);
serveAppends(port, db, config);
port.once('close', () => db.close());
