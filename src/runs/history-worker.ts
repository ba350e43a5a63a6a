/** Worker-thread entry of run history (see run-history.ts); talks to the main thread by messages. */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { createLogger } from '../logger.js';
import { lowerThreadPriority } from '../pipeline/thread-priority.js';
import { RunHistory, type HistoryEvents } from './run-history.js';
import type { ToHistory, FromHistory } from './history-messages.js';
import { WriterTurn } from '../store/writer-turn.js';
import { AppenderLink } from './revision-channel.js';

const port = parentPort;
if (port === null) throw new Error('history-worker must run in a worker thread');
const { config, writerTurn, appendPort } = workerData as { config: Config; writerTurn: SharedArrayBuffer; appendPort: MessagePort };
const logger = createLogger(config.telemetry.logs.level).child({ component: 'runs/history' });

// Judging is background work. Under full load this took ingest from 0.6 to 0.75 of its rate without
// judging; spans are durable either way, only verdicts come later.
lowerThreadPriority(logger);
const send = (message: FromHistory) => port.postMessage(message);

const events: HistoryEvents = {
  evaluated: (summary) => send({ type: 'evaluated', summary }),
  capped: (cap) => send({ type: 'capped', cap }),
  duplicates: (count) => send({ type: 'duplicates', count }),
  evaluationFailed: () => send({ type: 'evaluation_failed' }),
  openRuns: (count) => send({ type: 'open_runs', count }),
  checkpointWritten: (atMs) => send({ type: 'checkpoint', atMs }),
  referenceReload: (file, result) => send({ type: 'reference_reload', file, result }),
  pruned: (runs, unforwardedSpans) => send({ type: 'pruned', runs, unforwardedSpans }),
};
const intakeAppender = new AppenderLink(appendPort);
const history = new RunHistory(config, events, logger, {
  turn: new WriterTurn(writerTurn, config.storage.sqlite.busy_timeout_ms),
  idleAppender: intakeAppender,
});

port.on('message', (message: ToHistory) => {
  if (message.type === 'touched') {
    history.touched(message.runKeys);
  } else if (message.type === 'shutdown') {
    const closed = () => {
      intakeAppender.close();
      send({ type: 'closed' });
      port.close();
    };
    history.shutdown().then(closed, (err: unknown) => {
      logger.error({ err }, 'run history shutdown failed');
      closed();
    });
  }
});

history.start().then(
  () => send({ type: 'ready' }),
  (err: unknown) => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
);
