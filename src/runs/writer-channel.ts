import type { MessagePort } from 'node:worker_threads';
import type { HistoryWriter, HistoryWriterEvents, RevisionBatch, RevisionSink, SavedBatch } from './history-writer.js';

/**
 * Both ends of the channel between the history worker (judging) and the writer thread (appending):
 * batches of judged revisions one way, what was saved and the writer's events the other. The main
 * thread creates the channel and hands one port to each worker.
 */
type ToWriter = { type: 'save'; id: number; batch: RevisionBatch };
type FromWriter =
  | { type: 'saved'; id: number; result: SavedBatch }
  | { type: 'not_saved'; id: number; message: string }
  | { type: 'checkpoint'; atMs: number }
  | { type: 'pruned'; runs: number; unforwardedSpans: number };

/** Writer thread: saves each batch the port brings and answers; reports the writer's events. */
export function serveRevisions(port: MessagePort, writer: () => HistoryWriter | undefined): HistoryWriterEvents {
  const send = (message: FromWriter) => port.postMessage(message);
  port.on('message', (message: ToWriter) => {
    const target = writer();
    try {
      if (target === undefined) throw new Error('the history writer is not running');
      send({ type: 'saved', id: message.id, result: target.saveNow(message.batch) });
    } catch (err) {
      send({ type: 'not_saved', id: message.id, message: err instanceof Error ? err.message : String(err) });
    }
  });
  return {
    checkpointWritten: (atMs) => send({ type: 'checkpoint', atMs }),
    pruned: (runs, unforwardedSpans) => send({ type: 'pruned', runs, unforwardedSpans }),
  };
}

/** History worker: a RevisionSink whose saves happen on the writer thread. */
export function writerOverPort(port: MessagePort, events: HistoryWriterEvents): RevisionSink & { close(): void } {
  let nextId = 0;
  const waiting = new Map<number, { resolve: (result: SavedBatch) => void; reject: (err: Error) => void }>();
  port.on('message', (message: FromWriter) => {
    switch (message.type) {
      case 'saved':
        waiting.get(message.id)?.resolve(message.result);
        waiting.delete(message.id);
        return;
      case 'not_saved':
        waiting.get(message.id)?.reject(new Error(message.message));
        waiting.delete(message.id);
        return;
      case 'checkpoint':
        return events.checkpointWritten(message.atMs);
      case 'pruned':
        return events.pruned(message.runs, message.unforwardedSpans);
    }
  });
  const closed = () => {
    for (const { reject } of waiting.values()) reject(new Error('the writer channel closed'));
    waiting.clear();
  };
  port.on('close', closed);
  return {
    save(batch) {
      const id = nextId++;
      return new Promise<SavedBatch>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        port.postMessage({ type: 'save', id, batch } satisfies ToWriter);
      });
    },
    close() {
      closed();
      port.close();
    },
  };
}
