import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { RunledgerError } from '../errors.js';
import type { FromIntake, ToIntake } from '../store/intake-messages.js';
import { toIntakeRows, transferables } from '../store/intake-rows.js';
import type { Component } from './component.js';
import { WorkerLink } from './worker-link.js';
import type { WriterTurn } from '../store/writer-turn.js';
import type { SpanBatch } from './span-batch.js';
import type { SpanSink } from './span-sink.js';

const WRITER_YOUNG_GENERATION_MB = 8;

/** Hears, once spans are committed, which runs they belong to (the run-history worker's client). */
export interface CommittedRuns {
  committed(runKeys: readonly string[]): void;
}

interface InFlight {
  /** Not the batch: its decoded spans would live until the commit and be promoted to the old generation. */
  readonly runKeys: readonly string[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The durable-intake stage of the main thread: hands each batch to the intake writer's thread
 * (intake-worker.ts) and resolves only once the writer says it is committed, so the OTLP
 * answer still follows the commit. Then it tells `runs` which runs got spans.
 */
export class IntakeClient implements SpanSink, Component {
  private readonly link: WorkerLink<ToIntake, FromIntake>;
  private nextId = 0;
  private readonly inFlight = new Map<number, InFlight>();
  private expired: ((spans: number) => void) | undefined;

  constructor(
    config: Readonly<Config>,
    private readonly deps: {
      readonly runs: CommittedRuns | undefined;
      readonly logger: Logger;
      /** Shared with run history, whose save transactions intake lets through. */
      readonly writerTurn: WriterTurn;
      /** The intake writer's end of the channel run history sends revisions on while intake is idle. */
      readonly appendPort: MessagePort;
    },
  ) {
    this.link = new WorkerLink(
      'intake writer',
      new URL('./intake-worker.js', import.meta.url),
      {
        workerData: { config, writerTurn: deps.writerTurn.buffer, appendPort: deps.appendPort },
        transferList: [deps.appendPort],
        // Each batch it receives is garbage once committed: a small young generation is enough, and
        // V8's default (grown under load to tens of MiB) would count against the process's memory.
        resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
      },
      deps.logger,
    );
  }

  get running(): boolean {
    return this.link.running;
  }

  /** Resolves once the writer opened the store and applied migrations. */
  start(): Promise<void> {
    return this.link.start(
      (message) => {
        switch (message.type) {
          case 'committed':
            return this.committed(message.id);
          case 'not_committed':
            return this.settle(message.id)?.reject(unavailable(message.message));
          case 'expired':
            return this.expired?.(message.spans);
        }
      },
      // Whatever the writer had not confirmed may not be on disk: the senders must retry it.
      () => {
        for (const id of [...this.inFlight.keys()]) this.settle(id)?.reject(unavailable(UNAVAILABLE));
      },
    );
  }

  consume(batch: SpanBatch): Promise<void> {
    if (batch.spans.length === 0 && batch.claims.length === 0) return Promise.resolve();
    if (!this.link.running) return Promise.reject(unavailable(UNAVAILABLE));
    const id = this.nextId++;
    const rows = toIntakeRows(batch);
    const runKeys = runKeysOf(batch);
    return new Promise<void>((resolve, reject) => {
      this.inFlight.set(id, { runKeys, resolve, reject });
      try {
        this.link.post({ type: 'rows', id, rows }, transferables(rows));
      } catch (err) {
        // Nothing was sent (a buffer that could be neither moved nor copied): forget the batch.
        this.inFlight.delete(id);
        reject(err);
      }
    });
  }

  /** Asks the writer to delete pending spans received before the cutoff; `done` gets how many. */
  expirePending(receivedBeforeNs: bigint, done: (spans: number) => void): void {
    if (!this.link.running) return;
    this.expired = done;
    this.link.post({ type: 'expire_pending', receivedBeforeNs });
  }

  /** Commits what the writer holds and closes the store; call after the receiver stopped. */
  shutdown(): Promise<void> {
    return this.link.shutdown({ type: 'shutdown' });
  }

  private committed(id: number): void {
    const entry = this.settle(id);
    if (entry === undefined) return;
    if (entry.runKeys.length > 0) this.deps.runs?.committed(entry.runKeys);
    entry.resolve();
  }

  private settle(id: number): InFlight | undefined {
    const entry = this.inFlight.get(id);
    this.inFlight.delete(id);
    return entry;
  }
}

/** The runs a batch adds spans to, or binds pending spans to (claims), each once. */
function runKeysOf(batch: SpanBatch): string[] {
  const runKeys = new Set<string>();
  for (const s of batch.spans) if (s.runKey !== null) runKeys.add(s.runKey);
  for (const claim of batch.claims) runKeys.add(claim.runKey);
  return [...runKeys];
}

const UNAVAILABLE = 'storage is unavailable; retry later';

function unavailable(message: string): RunledgerError {
  return new RunledgerError('STORAGE_UNAVAILABLE', message, { retryable: true });
}
