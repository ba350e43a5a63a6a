import type { Database } from './database.js';

/** Reads over committed spans that intake stages need (the filter's TraceDirectory, by shape). */
export class SpanDirectory {
  private readonly runOfTrace;
  private readonly runOfSpan;

  constructor(db: Database) {
    this.runOfTrace = db
      .prepare('SELECT run_key FROM trace_runs WHERE trace_id = ? LIMIT 1')
      .pluck();
    this.runOfSpan = db
      .prepare(
        `SELECT s.run_key FROM trace_runs t JOIN spans s ON s.run_key = t.run_key
         WHERE t.trace_id = @trace AND s.trace_id = @trace AND s.span_id = @span LIMIT 1`,
      )
      .pluck();
  }

  runKeyOfTrace(traceId: string): string | undefined {
    return (this.runOfTrace.get(traceId) as string | undefined) ?? undefined;
  }

  runKeyOfSpan(traceId: string, spanId: string): string | undefined {
    return (this.runOfSpan.get({ trace: traceId, span: spanId }) as string | null | undefined) ?? undefined;
  }
}
