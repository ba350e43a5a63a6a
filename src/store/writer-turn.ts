/**
 * Gives run history its turn at SQLite's single write lock. Under load the intake writer commits back
 * to back, and a connection that finds the database locked sleeps in growing steps (up to 100 ms), so
 * history rarely caught the gap between two intake commits: waiting was most of its time. History
 * raises this flag, shared between the two threads, for the length of its write transaction; the
 * intake writer starts no transaction while the flag is up.
 */
export class WriterTurn {
  private readonly claims: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)) {
    this.claims = new Int32Array(buffer);
  }

  /** Run history: runs `transaction` with the flag up. */
  claim<T>(transaction: () => T): T {
    Atomics.add(this.claims, 0, 1);
    try {
      return transaction();
    } finally {
      if (Atomics.sub(this.claims, 0, 1) === 1) Atomics.notify(this.claims, 0);
    }
  }

  /**
   * Intake writer: waits while history holds a claim, at most `maxWaitMs` (a stuck claim must not stop
   * intake; SQLite's own locking still keeps the two apart). Blocks the thread: never the main thread.
   */
  await(maxWaitMs: number): void {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const claims = Atomics.load(this.claims, 0);
      const left = deadline - Date.now();
      if (claims === 0 || left <= 0) return;
      Atomics.wait(this.claims, 0, claims, left);
    }
  }
}
