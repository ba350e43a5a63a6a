import type { TraceDirectory } from '../processors/filter/filter.js';
import type { Database } from './database.js';

/** Reads over committed spans that intake stages need. */
export class SpanDirectory implements TraceDirectory {
  private readonly runOfTrace;
  private readonly runOfSpan;
  private readonly expire;

  constructor(db: Database) {
    this.runOfTrace = db
      .prepare('SELECT run_key FROM spans WHERE trace_id = ? AND run_key IS NOT NULL LIMIT 1')
      .pluck();
    this.runOfSpan = db.prepare('SELECT run_key FROM spans WHERE trace_id = ? AND span_id = ?').pluck();
    this.expire = db.prepare('DELETE FROM spans WHERE run_key IS NULL AND received_ns < ?');
  }

  runKeyOfTrace(traceId: string): string | undefined {
    return (this.runOfTrace.get(traceId) as string | undefined) ?? undefined;
  }

  runKeyOfSpan(traceId: string, spanId: string): string | undefined {
    return (this.runOfSpan.get(traceId, spanId) as string | null | undefined) ?? undefined;
  }

  /** Deletes pending spans received before the cutoff; returns how many. */
  expirePending(receivedBeforeNs: bigint): number {
    return this.expire.run(receivedBeforeNs).changes;
  }
}
