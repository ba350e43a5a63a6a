import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { RunledgerError } from '../errors.js';
import type { FromIntake, ToIntake } from '../store/intake-messages.js';
import { toIntakeRows, transferables } from '../store/intake-rows.js';
import type { Component } from './component.js';
import type { WriterTurn } from '../store/writer-turn.js';
import type { SpanBatch } from './span-batch.js';
import type { SpanSink } from './span-sink.js';

const WRITER_YOUNG_GENERATION_MB = 8;

interface InFlight {
  readonly batch: SpanBatch;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The durable-intake stage of the main thread: hands each batch to the intake writer's thread
 * (src/store/intake-worker.ts) and resolves only once the writer says it is committed, so the OTLP
 * answer still follows the commit. Committed batches go on to the next stage.
 */
export class IntakeClient implements SpanSink, Component {
  private worker: Worker | undefined;
  private alive = false;
  private nextId = 0;
  private readonly inFlight = new Map<number, InFlight>();
  private closed: Promise<void> | undefined;
  private expired: ((spans: number) => void) | undefined;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly deps: {
      readonly next: SpanSink | undefined;
      readonly logger: Logger;
      /** Shared with run history, whose save transactions intake lets through. */
      readonly writerTurn: WriterTurn;
    },
  ) {}

  get running(): boolean {
    return this.alive;
  }

  /** Resolves once the writer opened the store and applied migrations. */
  async start(): Promise<void> {
    const worker = new Worker(new URL('../store/intake-worker.js', import.meta.url), {
      workerData: { config: this.config, writerTurn: this.deps.writerTurn.buffer },
      // Each batch it receives is garbage once committed: a small young generation is enough, and
      // V8's default (grown under load to tens of MiB) would count against the process's memory.
      resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
    });
    this.worker = worker;
    let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    let resolveClosed: () => void = () => undefined;
    this.closed = new Promise<void>((resolve) => (resolveClosed = resolve));
    worker.on('message', (message: FromIntake) => {
      switch (message.type) {
        case 'ready':
          this.alive = true;
          settle?.resolve();
          return;
        case 'failed':
          settle?.reject(new Error(message.message));
          return;
        case 'committed':
          return this.committed(message.id);
        case 'not_committed':
          return this.settle(message.id)?.reject(unavailable(message.message));
        case 'expired':
          this.expired?.(message.spans);
          return;
        case 'closed':
          resolveClosed();
          return;
      }
    });
    worker.on('error', (err) => {
      this.alive = false;
      this.deps.logger.error({ err }, 'intake writer failed');
      settle?.reject(err);
    });
    worker.on('exit', (code) => {
      this.alive = false;
      resolveClosed();
      settle?.reject(new Error(`intake writer exited with ${code}`));
      // Whatever the writer had not confirmed may not be on disk: the senders must retry it.
      for (const id of [...this.inFlight.keys()]) this.settle(id)?.reject(unavailable(UNAVAILABLE));
    });
    await ready;
  }

  consume(batch: SpanBatch): Promise<void> {
    if (batch.spans.length === 0 && batch.claims.length === 0) return Promise.resolve();
    const worker = this.worker;
    if (worker === undefined || !this.alive) return Promise.reject(unavailable(UNAVAILABLE));
    const id = this.nextId++;
    const rows = toIntakeRows(batch);
    return new Promise<void>((resolve, reject) => {
      this.inFlight.set(id, { batch, resolve, reject });
      try {
        this.post({ type: 'rows', id, rows }, transferables(rows));
      } catch (err) {
        // Nothing was sent (a buffer that could be neither moved nor copied): forget the batch.
        this.inFlight.delete(id);
        reject(err);
      }
    });
  }

  /** Asks the writer to delete pending spans received before the cutoff; `done` gets how many. */
  expirePending(receivedBeforeNs: bigint, done: (spans: number) => void): void {
    if (!this.alive) return;
    this.expired = done;
    this.post({ type: 'expire_pending', receivedBeforeNs });
  }

  /** Commits what the writer holds and closes the store; call after the receiver stopped. */
  async shutdown(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    if (this.alive) {
      this.post({ type: 'shutdown' });
      await this.closed;
    }
    this.worker = undefined;
    await worker.terminate();
  }

  private committed(id: number): void {
    const entry = this.settle(id);
    if (entry === undefined) return;
    const { next } = this.deps;
    if (next === undefined) entry.resolve();
    else next.consume(entry.batch).then(entry.resolve, entry.reject);
  }

  private settle(id: number): InFlight | undefined {
    const entry = this.inFlight.get(id);
    this.inFlight.delete(id);
    return entry;
  }

  private post(message: ToIntake, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(message, transfer);
  }
}

const UNAVAILABLE = 'storage is unavailable; retry later';

function unavailable(message: string): RunledgerError {
  return new RunledgerError('STORAGE_UNAVAILABLE', message, { retryable: true });
}
