/**
 * How long an end-to-end test waits for something that must happen (a process listening, a run judged,
 * a checkpoint written) before failing. It only guards against hangs and claims nothing about speed:
 * CI runs on a busy 2-core machine where a process start alone took 49 s (load 90), so it is generous.
 * Tests assert order and cause; throughput lives in `npm run bench`.
 */
export const PATIENCE_MS = 120_000;
