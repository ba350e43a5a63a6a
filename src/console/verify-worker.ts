import { parentPort, workerData } from 'node:worker_threads';
import { runVerify } from '../cli/verify.js';
import type { Config } from '../config/schema.js';

// One verification, as `runledger verify` runs it, off the main thread: a long chain walk must not
// hold up OTLP answers or other HTTP requests.
try {
  parentPort?.postMessage({ report: runVerify(workerData as Config, { publicKeys: [] }) });
} catch (err) {
  parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) });
}
