import { RunledgerError } from '../../src/errors.js';
import type { SpanBatch } from '../../src/pipeline/span-batch.js';
import type { SpanSink } from '../../src/pipeline/span-sink.js';

/** The test double every stage test uses downstream: keeps each batch it is given. */
export class RecordingSink implements SpanSink {
  readonly batches: SpanBatch[] = [];

  consume(batch: SpanBatch): Promise<void> {
    this.batches.push(batch);
    return Promise.resolve();
  }

  get last(): SpanBatch {
    const batch = this.batches.at(-1);
    if (batch === undefined) throw new Error('the sink received no batch');
    return batch;
  }
}

/** A downstream stage that fails: rejects every batch with `error` (a retryable storage failure by default). */
export class FailingSink implements SpanSink {
  constructor(
    private readonly error: unknown = new RunledgerError('STORAGE_UNAVAILABLE', 'storage is unavailable; retry later', {
      retryable: true,
    }),
  ) {}

  consume(): Promise<void> {
    return Promise.reject(this.error);
  }
}

/** Holds every batch until release(), like a store waiting on a lock. */
export class GatedSink implements SpanSink {
  readonly batches: SpanBatch[] = [];
  private readonly waiting: Array<() => void> = [];

  consume(batch: SpanBatch): Promise<void> {
    this.batches.push(batch);
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
