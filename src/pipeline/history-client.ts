import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { FromHistory, ToHistory } from '../runs/history-messages.js';
import type { HistoryEvents } from '../runs/run-history.js';
import type { Component } from './component.js';
import type { WriterTurn } from '../store/writer-turn.js';
import type { SpanBatch } from './span-batch.js';
import type { SpanSink } from './span-sink.js';

const HISTORY_YOUNG_GENERATION_MB = 8;

/**
 * The last stage of the main thread: tells the run-history worker which runs committed spans
 * touched. Judging runs happens there, so it never delays answers to OTLP requests.
 */
export class HistoryClient implements SpanSink, Component {
  private worker: Worker | undefined;
  private alive = false;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly events: HistoryEvents,
    private readonly logger: Logger,
    private readonly writerTurn: WriterTurn,
  ) {}

  get running(): boolean {
    return this.alive;
  }

  async start(): Promise<void> {
    const worker = new Worker(new URL('../runs/history-worker.js', import.meta.url), {
      workerData: { config: this.config, writerTurn: this.writerTurn.buffer },
      // V8 grows a thread's young generation to 32 MiB under allocation. Measured under full load: 8 MiB
      // judges as many runs per second as 16 MiB and keeps peak RSS under 300 MB (32 MiB judged more
      // while draining a backlog, but put RSS past 300 MB).
      resourceLimits: { maxYoungGenerationSizeMb: HISTORY_YOUNG_GENERATION_MB },
    });
    this.worker = worker;
    let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    let resolveClosed: () => void = () => undefined;
    this.closed = new Promise<void>((resolve) => (resolveClosed = resolve));
    worker.on('message', (message: FromHistory) => {
      switch (message.type) {
        case 'ready':
          this.alive = true;
          settle?.resolve();
          break;
        case 'failed':
          settle?.reject(new Error(message.message));
          break;
        case 'closed':
          resolveClosed();
          break;
        default:
          this.dispatch(message);
      }
    });
    worker.on('error', (err) => {
      this.alive = false;
      this.logger.error({ err }, 'run history worker failed');
      settle?.reject(err);
    });
    worker.on('exit', (code) => {
      this.alive = false;
      resolveClosed();
      settle?.reject(new Error(`run history worker exited with ${code}`));
    });
    await ready;
  }

  consume(batch: SpanBatch): Promise<void> {
    const runKeys = new Set<string>();
    for (const s of batch.spans) if (s.runKey !== null) runKeys.add(s.runKey);
    for (const claim of batch.claims) runKeys.add(claim.runKey);
    // The spans are committed: history reads them from the store, so losing this note only delays
    // judging until the next start, which resumes every open run.
    if (runKeys.size > 0 && this.alive) this.post({ type: 'touched', runKeys: [...runKeys] });
    return Promise.resolve();
  }

  async shutdown(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    this.worker = undefined;
    if (this.alive) {
      this.post({ type: 'shutdown' }, worker);
      await this.closed;
    }
    await worker.terminate();
  }

  private post(message: ToHistory, worker = this.worker): void {
    worker?.postMessage(message);
  }

  private dispatch(message: Exclude<FromHistory, { type: 'ready' | 'failed' | 'closed' }>): void {
    const { events } = this;
    switch (message.type) {
      case 'evaluated':
        return events.evaluated(message.summary);
      case 'capped':
        return events.capped(message.cap);
      case 'evaluation_failed':
        return events.evaluationFailed();
      case 'open_runs':
        return events.openRuns(message.count);
      case 'checkpoint':
        return events.checkpointWritten(message.atMs);
      case 'reference_reload':
        return events.referenceReload(message.file, message.result);
      case 'pruned':
        return events.pruned(message.runs);
    }
  }
}
