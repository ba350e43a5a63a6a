import { stepsOfRecord } from '../evidence/step-record.js';
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

export interface RunPage {
  readonly runs: RunRecord[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  readonly next_cursor: string | null;
}

export interface StatusCounts {
  compliant: number;
  incomplete: number;
  violation: number;
}

export interface RevisionSummary {
  readonly revision: number;
  readonly evaluated_at: string;
  readonly reason: string;
  readonly status: string;
  readonly outcome: string;
}

/** A run as the CLI and API return it: the latest revision's record, plus its history and state. */
export type RunRecord = Record<string, unknown> & {
  run_id: string;
  revision: number;
  state: 'open' | 'evaluated';
  revisions?: RevisionSummary[];
};

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

/** Read-only queries over run history; the CLI and the HTTP API both go through here. */
export class RunQueries {
  constructor(private readonly db: Database) {}

  listRuns(filter: RunFilter = {}): RunPage {
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
        // the small summary is parsed here.
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
    const runs = page.map((row) => JSON.parse(row.summary) as RunRecord);
    return { runs, next_cursor: rows.length > limit && last ? encodeCursor(last.started_ns, last.run_key) : null };
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

  /** The run's latest revision (or the given one) with its revision history; undefined if unknown. */
  getRun(runKey: string, revision?: number): RunRecord | undefined {
    const run = this.db.prepare('SELECT state, revision, span_count FROM runs WHERE run_key = ?').get(runKey) as
      | { state: 'open' | 'evaluated'; revision: number; span_count: number }
      | undefined;
    if (run === undefined) return undefined;
    const revisions = this.db
      .prepare(
        `SELECT revision, evaluated_ns, reason, status, outcome FROM run_revisions WHERE run_key = ? ORDER BY revision`,
      )
      .all(runKey) as Array<{ revision: number; evaluated_ns: number; reason: string; status: string; outcome: string }>;
    const history = revisions.map((r) => ({
      revision: r.revision,
      evaluated_at: new Date(Math.floor(r.evaluated_ns / 1e6)).toISOString(),
      reason: r.reason,
      status: r.status,
      outcome: r.outcome,
    }));
    const wanted = revision ?? run.revision;
    if (wanted === 0) return { run_id: runKey, revision: 0, state: run.state, span_count: run.span_count, revisions: history };
    const row = this.db.prepare('SELECT record FROM run_revisions WHERE run_key = ? AND revision = ?').get(runKey, wanted) as
      | { record: string }
      | undefined;
    if (row === undefined) return undefined;
    const { claims, ...record } = JSON.parse(row.record) as RunRecord;
    // Compact stored steps are shown in full; the key keeps its place in the record.
    if (record.steps !== undefined) record.steps = stepsOfRecord(record);
    return { ...record, state: run.state, revisions: history };
  }
}
