import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { FromHistory, ToHistory } from '../runs/history-messages.js';
import type { HistoryEvents } from '../runs/run-history.js';
import type { Component } from './component.js';
import { WorkerLink } from './worker-link.js';
import type { WriterTurn } from '../store/writer-turn.js';
import type { CommittedRuns } from './intake-client.js';

const HISTORY_YOUNG_GENERATION_MB = 8;

/**
 * The last stage of the main thread: tells the run-history worker which runs committed spans
 * touched. Judging runs happens there, so it never delays answers to OTLP requests.
 */
export class HistoryClient implements CommittedRuns, Component {
  private readonly link: WorkerLink<ToHistory, FromHistory>;

  constructor(
    config: Readonly<Config>,
    private readonly events: HistoryEvents,
    logger: Logger,
    intakeWriter: {
      /** Shared with the intake writer, which lets run history's saves through. */
      readonly turn: WriterTurn;
      /** History's end of the channel to the intake writer, which appends revisions while intake is idle. */
      readonly appendPort: MessagePort;
    },
  ) {
    this.link = new WorkerLink(
      'run history worker',
      new URL('../runs/history-worker.js', import.meta.url),
      {
        workerData: { config, writerTurn: intakeWriter.turn.buffer, appendPort: intakeWriter.appendPort },
        transferList: [intakeWriter.appendPort],
        // V8 grows a thread's young generation to 32 MiB under allocation. Measured under full load: 8 MiB
        // judges as many runs per second as 16 MiB and keeps peak RSS under 300 MB (32 MiB judged more
        // while draining a backlog, but put RSS past 300 MB).
        resourceLimits: { maxYoungGenerationSizeMb: HISTORY_YOUNG_GENERATION_MB },
      },
      logger,
    );
  }

  get running(): boolean {
    return this.link.running;
  }

  start(): Promise<void> {
    return this.link.start((message) => this.dispatch(message));
  }

  committed(runKeys: readonly string[]): void {
    // The spans are committed: history reads them from the store, so losing this note only delays
    // judging until the next start, which resumes every open run.
    if (this.link.running) this.link.post({ type: 'touched', runKeys: [...runKeys] });
  }

  shutdown(): Promise<void> {
    return this.link.shutdown({ type: 'shutdown' });
  }

  private dispatch(message: Exclude<FromHistory, { type: 'ready' | 'failed' | 'closed' }>): void {
    const { events } = this;
    switch (message.type) {
      case 'evaluated':
        return events.evaluated(message.summary);
      case 'capped':
        return events.capped(message.cap);
      case 'duplicates':
        return events.duplicates(message.count);
      case 'evaluation_failed':
        return events.evaluationFailed();
      case 'open_runs':
        return events.openRuns(message.count);
      case 'checkpoint':
        return events.checkpointWritten(message.atMs);
      case 'reference_reload':
        return events.referenceReload(message.file, message.result);
      case 'pruned':
        return events.pruned(message.runs, message.unforwardedSpans);
    }
  }
}
