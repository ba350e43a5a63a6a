import { setPriority } from 'node:os';
import type { Logger } from 'pino';

/** The nice value of runledger's background threads (run history, forwarding). */
const BACKGROUND_NICE = 10;

/**
 * Makes the calling worker thread background work: when the cores are busy, answering OTLP requests
 * goes first (an exporter that waits retries, queues and in the end drops spans), and the background
 * catches up as load eases. On Linux a nice value belongs to the thread that sets it; elsewhere it
 * would slow the whole process, so it is left alone there.
 */
export function lowerThreadPriority(logger: Logger): void {
  if (process.platform !== 'linux') return;
  try {
    setPriority(0, BACKGROUND_NICE);
  } catch (err) {
    logger.warn({ err }, 'could not lower the CPU priority of a background thread');
  }
}
