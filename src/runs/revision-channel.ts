import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { ChainWriter } from '../integrity/chain-writer.js';
import { ChainStore } from '../store/chain-store.js';
import type { Database } from '../store/database.js';
import { RunStore } from '../store/run-store.js';
import { appendBatch, type AppendedBatch, type BatchAppender, type RevisionBatch } from './history-writer.js';

/**
 * Both ends of the channel on which run history hands batches of judged revisions to the intake
 * writer's thread while intake is idle (see HistoryWriter.save). The main thread makes the channel
 * and gives one port to each worker.
 */
type ToAppender = { type: 'append'; id: number; batch: RevisionBatch };
type FromAppender = { type: 'appended'; id: number; appended: AppendedBatch } | { type: 'not_appended'; id: number; message: string };

/** The intake writer's end: appends each batch the port brings on this thread's connection, and answers. */
export function serveAppends(port: MessagePort, db: Database, config: Readonly<Config>): void {
  // Revision rows are hashed, not signed: this end needs no signing key. History's own writer
  // started the chain before it sends anything.
  const store = new RunStore(db, new ChainWriter(new ChainStore(db), undefined, config.integrity.origin));
  // IMMEDIATE: the write lock before the chain's head is read, whoever else writes.
  const append = db.transaction((batch: RevisionBatch) => appendBatch(store, batch));
  port.on('message', ({ id, batch }: ToAppender) => {
    let answer: FromAppender;
    try {
      answer = { type: 'appended', id, appended: append.immediate(batch) };
    } catch (err) {
      answer = { type: 'not_appended', id, message: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(answer);
  });
}

/** Run history's end: appends a batch on the intake writer's thread. */
export class AppenderLink implements BatchAppender {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (appended: AppendedBatch) => void; reject: (err: Error) => void }>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (message: FromAppender) => {
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.type === 'appended') waiter?.resolve(message.appended);
      else waiter?.reject(new Error(`appending run revisions on the intake writer failed: ${message.message}`));
    });
    port.on('close', () => this.rejectWaiting());
  }

  append(batch: RevisionBatch): Promise<AppendedBatch> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.port.postMessage({ type: 'append', id, batch } satisfies ToAppender);
    });
  }

  close(): void {
    this.rejectWaiting();
    this.port.close();
  }

  private rejectWaiting(): void {
    for (const { reject } of this.waiting.values()) reject(new Error('the channel to the intake writer closed'));
    this.waiting.clear();
  }
}
