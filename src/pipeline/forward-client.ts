import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { FromForward, ToForward } from '../exporters/otlp/forward-messages.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { WriterTurn } from '../store/writer-turn.js';
import type { Component } from './component.js';
import { WorkerLink } from './worker-link.js';

/**
 * Each batch read and sent allocates megabytes of Buffers outside the V8 heap (rows, the request, its
 * frame and gzip output), freed only when the small objects holding them are collected. With an 8 MiB
 * young generation that took dozens of batches: peak RSS under full load went ~70 MB over runledger's
 * without forwarding (bench:ingest); 2 MiB collects them several times as often.
 */
const FORWARD_YOUNG_GENERATION_MB = 2;

/**
 * The main thread's end of forwarding (exporters.otlp): starts the forwarding worker, which reads
 * committed spans and sealed revisions from the store on its own, and turns its reports into metrics.
 * Nothing on the OTLP answer path waits for it.
 */
export class ForwardClient implements Component {
  private readonly link: WorkerLink<ToForward, FromForward>;

  constructor(
    config: Readonly<Config>,
    private readonly metrics: Metrics,
    logger: Logger,
    writerTurn: WriterTurn,
  ) {
    this.link = new WorkerLink(
      'forwarding worker',
      new URL('../exporters/otlp/forward-worker.js', import.meta.url),
      { workerData: { config, writerTurn: writerTurn.buffer }, resourceLimits: { maxYoungGenerationSizeMb: FORWARD_YOUNG_GENERATION_MB } },
      logger,
    );
  }

  get running(): boolean {
    return this.link.running;
  }

  start(): Promise<void> {
    return this.link.start((message) => {
      const { metrics } = this;
      if (message.type === 'sent') metrics.forwardSent.inc({ signal: message.signal, result: message.result }, message.count);
      else if (message.signal === 'traces') {
        metrics.forwardBacklogSpans.set(message.items);
        metrics.forwardLag.set({ signal: 'traces' }, message.lagSeconds);
      } else {
        metrics.forwardBacklogVerdicts.set(message.items);
        metrics.forwardLag.set({ signal: 'logs' }, message.lagSeconds);
      }
    });
  }

  /** Lets the export under way finish (bounded by timeout_ms) and saves the cursors. */
  shutdown(): Promise<void> {
    return this.link.shutdown({ type: 'shutdown' });
  }
}
