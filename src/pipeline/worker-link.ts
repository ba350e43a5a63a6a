import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { Logger } from 'pino';

/** What every runledger worker says about its life; anything else is the worker's own business. */
type LifeMessage = { type: 'ready' } | { type: 'failed'; message: string } | { type: 'closed' };

/**
 * The main thread's end of one of runledger's worker threads (intake writer, run history): starts it,
 * waits for it to say `ready` (or `failed`), hands every other message on, and shuts it down by asking
 * it to close and waiting for `closed` before terminating it.
 */
export class WorkerLink<In extends { type: string }, Out extends { type: string }> {
  private worker: Worker | undefined;
  private alive = false;
  private closed: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly url: URL,
    private readonly options: WorkerOptions,
    private readonly logger: Logger,
  ) {}

  /** Started and neither failed nor exited. */
  get running(): boolean {
    return this.alive;
  }

  /** Resolves once the worker says it is ready; `onExit` hears of an exit, expected or not. */
  async start(onMessage: (message: Exclude<Out, LifeMessage>) => void, onExit?: (code: number) => void): Promise<void> {
    const worker = new Worker(this.url, this.options);
    this.worker = worker;
    let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    let resolveClosed: () => void = () => undefined;
    this.closed = new Promise<void>((resolve) => (resolveClosed = resolve));
    worker.on('message', (message: Out | LifeMessage) => {
      switch (message.type) {
        case 'ready':
          this.alive = true;
          settle?.resolve();
          return;
        case 'failed':
          settle?.reject(new Error((message as { message: string }).message));
          return;
        case 'closed':
          resolveClosed();
          return;
        default:
          onMessage(message as Exclude<Out, LifeMessage>);
      }
    });
    worker.on('error', (err) => {
      this.alive = false;
      this.logger.error({ err }, `${this.name} failed`);
      settle?.reject(err);
    });
    worker.on('exit', (code) => {
      this.alive = false;
      resolveClosed();
      settle?.reject(new Error(`${this.name} exited with ${code}`));
      onExit?.(code);
    });
    await ready;
  }

  /** Throws as postMessage does (a buffer that can be neither moved nor copied). */
  post(message: In, transfer: readonly ArrayBuffer[] = []): void {
    this.worker?.postMessage(message, transfer);
  }

  /** Asks the worker to close (it sends `closed` when done), then terminates it. */
  async shutdown(shutdownMessage: In): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    if (this.alive) {
      this.post(shutdownMessage);
      await this.closed;
    }
    this.worker = undefined;
    await worker.terminate();
  }
}
