const CLAIMS = 0; // run history transactions waiting or running
const WRITING = 1; // 1 while an intake transaction runs
const WRITES = 2; // intake transactions begun (wraps around)

/**
 * Turn-taking at SQLite's single write lock between the two threads that write: the intake writer and
 * run history. Under load the intake writer commits back to back, and a connection that finds the
 * database locked sleeps in growing steps (up to 100 ms), so history rarely caught the gap between
 * two intake commits: waiting was most of its time. Here history raises a claim for the length of its
 * transaction and the intake writer starts none while a claim is up; history in turn starts once the
 * intake transaction under way ends, woken at once rather than after a sleep.
 *
 * Every wait is bounded (`maxWaitMs`): this only schedules, SQLite's own locking still keeps the two
 * apart, so a thread that stops without lowering its flag cannot stop the other. Waiting blocks the
 * thread: never use it on the main thread.
 */
export class WriterTurn {
  private readonly cells: Int32Array;

  constructor(
    readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT),
    private readonly maxWaitMs = 5_000,
  ) {
    this.cells = new Int32Array(buffer);
  }

  /** Run history: runs `transaction` with a claim up, once no intake transaction is under way. */
  claim<T>(transaction: () => T): T {
    Atomics.add(this.cells, CLAIMS, 1);
    try {
      this.waitWhileSet(WRITING);
      return transaction();
    } finally {
      if (Atomics.sub(this.cells, CLAIMS, 1) === 1) Atomics.notify(this.cells, CLAIMS);
    }
  }

  /** Intake writer: runs `transaction` once run history holds no claim. */
  write<T>(transaction: () => T): T {
    const deadline = Date.now() + this.maxWaitMs;
    // Raise the flag first, then look: of two threads doing so, at least one sees the other.
    for (;;) {
      Atomics.store(this.cells, WRITING, 1);
      if (Atomics.load(this.cells, CLAIMS) === 0 || Date.now() >= deadline) break;
      this.lower(WRITING);
      this.waitWhileSet(CLAIMS, deadline);
    }
    Atomics.add(this.cells, WRITES, 1);
    try {
      return transaction();
    } finally {
      this.lower(WRITING);
    }
  }

  /** Intake transactions begun so far (a counter that wraps): two readings differ when intake wrote in between. */
  intakeWrites(): number {
    return Atomics.load(this.cells, WRITES);
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
