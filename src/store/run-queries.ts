import type { Database } from './database.js';

export interface RunFilter {
  readonly status?: string;
  readonly workflow?: string;
  readonly kind?: string;
  readonly actor?: string;
  readonly finding?: string;
  /** Runs started at or after, in epoch ms. */
  readonly since?: number;
  /** Runs started before, in epoch ms. */
  readonly until?: number;
  readonly limit?: number;
  /** Opaque position returned as `next_cursor` by the previous page. */
  readonly cursor?: string;
}

/** A page of runs as stored: what the record's readers parse (see api/run-record.ts). */
export interface SummaryPage {
  /** Each run's latest record as JSON text, without steps, evidence, redactions and claims, with its `state` added. */
  readonly summaries: string[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  readonly next_cursor: string | null;
}

export interface StatusCounts {
  compliant: number;
  incomplete: number;
  violation: number;
}

/** A run's row in the runs index. */
export interface RunRow {
  readonly state: 'open' | 'evaluated';
  /** The latest sealed revision; 0 before the first. */
  readonly revision: number;
  readonly span_count: number;
}

/** One sealed revision's row, as the index keeps it beside the record. */
export interface RevisionRow {
  readonly revision: number;
  readonly evaluated_ns: number;
  readonly reason: string;
  readonly status: string;
  readonly outcome: string;
}

const MAX_LIMIT = 1000;
/** started_ns is a signed 64-bit integer in SQLite (1677-09-21 .. 2262-04-11). */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const msToNs = (ms: number): bigint => {
  const ns = BigInt(ms) * 1_000_000n;
  return ns < INT64_MIN ? INT64_MIN : ns > INT64_MAX ? INT64_MAX : ns;
};

export class InvalidCursorError extends Error {}

function encodeCursor(startedNs: bigint, runKey: string): string {
  return Buffer.from(JSON.stringify([startedNs.toString(), runKey])).toString('base64url');
}

function decodeCursor(cursor: string): { startedNs: bigint; runKey: string } {
  try {
    const [startedNs, runKey] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (typeof startedNs !== 'string' || typeof runKey !== 'string') throw new Error('bad shape');
    const ns = BigInt(startedNs);
    if (ns < INT64_MIN || ns > INT64_MAX) throw new Error('position out of range');
    return { startedNs: ns, runKey };
  } catch (err) {
    throw new InvalidCursorError('cursor is not one returned by this API', { cause: err });
  }
}

/**
 * Read-only queries over run history, SQL only: rows and record texts as stored. Parsing them into
 * run records is api/run-record.ts's, which the API, CLI and console share.
 */
export class RunQueries {
  constructor(private readonly db: Database) {}

  listRuns(filter: RunFilter = {}): SummaryPage {
    const { from, where, params, walked } = this.selection(filter);
    const order = `${walked}.started_ns DESC, ${walked}.run_key DESC`;
    if (filter.cursor !== undefined) {
      const position = decodeCursor(filter.cursor);
      where.push(`(${walked}.started_ns, ${walked}.run_key) < (@cursor_start, @cursor_key)`);
      params.cursor_start = position.startedNs;
      params.cursor_key = position.runKey;
    }
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), MAX_LIMIT);
    params.limit = limit + 1;
    const rows = this.db
      .prepare(
        // The list view leaves out steps, evidence, redactions and claims; SQLite drops them so only
        // the small summary is parsed.
        `SELECT r.started_ns, r.run_key,
                json_set(json_remove(v.record, '$.steps', '$.evidence', '$.redactions', '$.claims'), '$.state', r.state) AS summary
         FROM ${from}
         JOIN run_revisions v ON v.run_key = r.run_key AND v.revision = r.revision
         WHERE ${where.join(' AND ')}
         ORDER BY ${order}
         LIMIT @limit`,
      )
      .safeIntegers(true)
      .all(params) as Array<{ started_ns: bigint; run_key: string; summary: string }>;
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { summaries: page.map((row) => row.summary), next_cursor: rows.length > limit && last ? encodeCursor(last.started_ns, last.run_key) : null };
  }

  /** How many runs the filter selects, by status, ignoring its status, cursor and limit (the console's counts). */
  countByStatus(filter: RunFilter = {}): StatusCounts {
    const { status: _status, cursor: _cursor, limit: _limit, ...rest } = filter;
    const { from, where, params } = this.selection(rest);
    const rows = this.db
      .prepare(`SELECT r.status AS status, count(*) AS n FROM ${from} WHERE ${where.join(' AND ')} GROUP BY r.status`)
      .all(params) as Array<{ status: string; n: number }>;
    const counts: StatusCounts = { compliant: 0, incomplete: 0, violation: 0 };
    for (const row of rows) if (row.status in counts) counts[row.status as keyof StatusCounts] = row.n;
    return counts;
  }

  /** The tables, conditions and parameters that select the filter's runs (latest revision each). */
  private selection(filter: RunFilter): { from: string; where: string[]; params: Record<string, unknown>; walked: 'r' | 'f' } {
    const where = ['r.revision > 0'];
    const params: Record<string, unknown> = {};
    const equal = (column: string, name: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(`r.${column} = @${name}`);
      params[name] = value;
    };
    equal('status', 'status', filter.status);
    equal('workflow', 'workflow', filter.workflow);
    equal('kind', 'kind', filter.kind);
    equal('actor_id', 'actor', filter.actor);
    // With a finding filter, walk that code's index newest first; otherwise walk runs'. Time bounds
    // and the cursor go on the walked table, so SQLite seeks instead of scanning from the newest row
    // (both tables hold the same start time for a revision).
    const walked = filter.finding === undefined ? 'r' : 'f';
    const from =
      filter.finding === undefined
        ? 'runs r'
        : 'run_findings f JOIN runs r ON r.run_key = f.run_key AND r.revision = f.revision';
    if (filter.finding !== undefined) {
      where.push('f.code = @finding');
      params.finding = filter.finding;
    }
    if (filter.since !== undefined) {
      where.push(`${walked}.started_ns >= @since`);
      params.since = msToNs(filter.since);
    }
    if (filter.until !== undefined) {
      where.push(`${walked}.started_ns < @until`);
      params.until = msToNs(filter.until);
    }
    return { from, where, params, walked };
  }

  /** A revision's record exactly as stored (what the chain's record_sha256 covers). */
  recordText(runKey: string, revision: number): string | undefined {
    return (this.db.prepare('SELECT record FROM run_revisions WHERE run_key = ? AND revision = ?').pluck().get(runKey, revision) as
      | string
      | undefined) ?? undefined;
  }

  /** The run's index row; undefined if unknown. */
  runRow(runKey: string): RunRow | undefined {
    return this.db.prepare('SELECT state, revision, span_count FROM runs WHERE run_key = ?').get(runKey) as RunRow | undefined;
  }

  /** The rows of the run's sealed revisions, oldest first. */
  revisionRows(runKey: string): RevisionRow[] {
    return this.db
      .prepare('SELECT revision, evaluated_ns, reason, status, outcome FROM run_revisions WHERE run_key = ? ORDER BY revision')
      .all(runKey) as RevisionRow[];
  }
}
