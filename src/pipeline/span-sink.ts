import type { SpanBatch } from './span-batch.js';

/** The one interface between stages. */
export interface SpanSink {
  /** Resolves once the batch is safely handled downstream; rejects with a RunledgerError otherwise. */
  consume(batch: SpanBatch): Promise<void>;
}
