import { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import type { VerifyReport } from '../integrity/verify.js';

/**
 * Runs `runledger verify`'s code on its own read-only connection in a worker thread. Requests that
 * arrive while one runs share its answer, so reloading the page never starts a second walk.
 */
export function createWorkerVerifier(config: Readonly<Config>): () => Promise<VerifyReport> {
  let running: Promise<VerifyReport> | undefined;
  return () => {
    running ??= new Promise<VerifyReport>((resolve, reject) => {
      const worker = new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: config });
      worker.once('message', (message: { report?: VerifyReport; error?: string }) => {
        if (message.report !== undefined) resolve(message.report);
        else reject(new Error(message.error ?? 'verification failed'));
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`verification worker exited with ${code}`)));
    }).finally(() => (running = undefined));
    return running;
  };
}
