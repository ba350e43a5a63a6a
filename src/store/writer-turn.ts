const CLAIMS = 0; // forwarding's transactions waiting or running
const WRITING = 1; // 1 while a store-writer transaction runs

/**
 * Turn-taking at SQLite's single write lock between the threads that write: the store writer (spans
 * and run history) and forwarding (its cursors). Under load the store writer commits back to back, and
 * a connection that finds the database locked sleeps in growing steps (up to 100 ms), so another
 * writer rarely caught the gap between two commits: waiting was most of its time (run history, when
 * it still wrote through its own connection). Here the other writer raises a claim for the length of
 * its transaction and the store writer starts none while a claim is up; the claimant in turn starts
 * once the transaction under way ends, woken at once rather than after a sleep.
 *
 * Every wait is bounded (`maxWaitMs`): this only schedules, SQLite's own locking still keeps the two
 * apart, so a thread that stops without lowering its flag cannot stop the other. Waiting blocks the
 * thread: never use it on the main thread.
 */
export class WriterTurn {
  private readonly cells: Int32Array;

  constructor(
    readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT),
    private readonly maxWaitMs = 5_000,
  ) {
    this.cells = new Int32Array(buffer);
  }

  /** Another writer (forwarding): runs `transaction` with a claim up, once no store-writer transaction is under way. */
  claim<T>(transaction: () => T): T {
    Atomics.add(this.cells, CLAIMS, 1);
    try {
      this.waitWhileSet(WRITING);
      return transaction();
    } finally {
      if (Atomics.sub(this.cells, CLAIMS, 1) === 1) Atomics.notify(this.cells, CLAIMS);
    }
  }

  /** Store writer: runs `transaction` once no other writer holds a claim. */
  write<T>(transaction: () => T): T {
    const deadline = Date.now() + this.maxWaitMs;
    // Raise the flag first, then look: of two threads doing so, at least one sees the other.
    for (;;) {
      Atomics.store(this.cells, WRITING, 1);
      if (Atomics.load(this.cells, CLAIMS) === 0 || Date.now() >= deadline) break;
      this.lower(WRITING);
      this.waitWhileSet(CLAIMS, deadline);
    }
    try {
      return transaction();
    } finally {
      this.lower(WRITING);
    }
  }

  private lower(cell: number): void {
    Atomics.store(this.cells, cell, 0);
    Atomics.notify(this.cells, cell);
  }

  private waitWhileSet(cell: number, deadline = Date.now() + this.maxWaitMs): void {
    for (;;) {
      const value = Atomics.load(this.cells, cell);
      const left = deadline - Date.now();
      if (value === 0 || left <= 0) return;
      Atomics.wait(this.cells, cell, value, left);
    }
  }
}
