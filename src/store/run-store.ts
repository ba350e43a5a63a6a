import type { Database } from './database.js';

/** The index row of a run, as the assembler tracks it. */
export interface RunState {
  readonly runKey: string;
  readonly state: 'open' | 'evaluated';
  readonly firstReceivedNs: bigint;
  readonly lastReceivedNs: bigint;
  readonly hasRoot: boolean;
  readonly spanCount: number;
  readonly revision: number;
  /** Distinct spans the last revision was judged on (null before the first, or for older stores). */
  readonly judgedSpans: number | null;
  /** Copies of its spans stored again, as the last judgement counted them. */
  readonly duplicateSpans: number;
}

interface RunStateRow {
  run_key: string;
  state: 'open' | 'evaluated';
  first_received_ns: bigint;
  last_received_ns: bigint;
  has_root: bigint;
  span_count: bigint;
  revision: bigint;
  judged_spans: bigint | null;
  duplicate_spans: bigint;
}

/** A stored span: its row id, its protobuf bytes, and the rows of its resource and scope. */
export interface StoredSpanRow {
  readonly id: number;
  readonly body: Buffer;
  /** The redactions applied at intake (parsed JSON list), or null. */
  readonly redactions: unknown[] | null;
  readonly resourceId: number;
  readonly scopeId: number;
}

/** The first run to claim a key (a trigger event, a decision), and when. */
export interface Claimant {
  readonly runKey: string;
  readonly claimedNs: bigint;
}

/**
 * What saveRevision writes of a revision, serialised ahead of its transaction (runs/seal.ts): its
 * record, its chain payload, and what the index rows copy.
 */
export interface RevisionRows {
  readonly runKey: string;
  readonly revision: number;
  /** Why it was evaluated (settled, max_open, capped, amended). */
  readonly reason: string;
  readonly evaluatedNs: bigint;
  readonly record: string;
  /** The chain entry's payload, canonical JSON. */
  readonly chainPayloadJson: string;
  readonly summary: RevisionSummary;
}

/** What a revision puts in the run's index row and the finding and claim tables. */
export interface RevisionSummary {
  readonly workflow: string | null;
  readonly kind: string | null;
  readonly status: string;
  readonly outcome: string;
  readonly actorId: string | null;
  readonly definition: string | null;
  readonly startedNs: bigint | null;
  readonly endedNs: bigint | null;
  /** Distinct spans judged. */
  readonly spanCount: number;
  /** The code of each finding, in the verdict's order. */
  readonly findingCodes: readonly string[];
  /** The keys the revision claims (its trigger event, the decisions it relied on), so reuse is caught. */
  readonly claims: { readonly trigger_event: string | null; readonly decision_ids: readonly string[] };
}

/** What saveRevision wrote: the revision number, and the run's state after it (undefined: no index row). */
export interface SavedRevision {
  readonly revision: number;
  readonly state: 'open' | 'evaluated' | undefined;
}

/** Where a revision's chain entry goes, in the revision's transaction (ChainWriter). */
export interface RevisionAppender {
  appendRevision(runKey: string, revision: number, createdNs: bigint, payloadJson: string): unknown;
}

/** Runs: their index, their spans, their append-only revisions, and the keys they used. */
export class RunStore {
  private readonly stmt;

  constructor(
    private readonly db: Database,
    /** Where saveRevision appends; absent on a connection that only reads. */
    private readonly chain?: RevisionAppender,
  ) {
    const prepare = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.stmt = {
      state: prepare('SELECT * FROM runs WHERE run_key = ?'),
      open: prepare("SELECT * FROM runs WHERE state = 'open' ORDER BY first_received_ns"),
      openCount: prepare("SELECT count(*) FROM runs WHERE state = 'open'").pluck(),
      // A run's spans in one row, not one row each: better-sqlite3 takes ~1.5 µs to make a row and ~2 µs
      // a BLOB's Buffer, and a run read row by row cost ~4.5 µs a span (a sixth of the history thread's
      // time). Both aggregates step through the rows in one scan, so in the same order, and the lengths
      // cut the bodies apart; group_concat makes text of the bytes unchanged (the database is UTF-8), and
      // CAST turns it back. Unsorted: an ORDER BY in each aggregate took a third of the query (two
      // sorters, one copying every body), and the reader orders the spans anyway (RunLoader).
      spans: prepare(
        `SELECT CAST(group_concat(body, x'') AS BLOB) AS bodies,
           json_group_array(json_array(id, length(body), resource_id, scope_id, json(redactions))) AS spans
         FROM spans WHERE run_key = ?`,
      ).safeIntegers(false),
      resource: prepare('SELECT body FROM resources WHERE id = ?').pluck(),
      scope: prepare('SELECT body FROM scopes WHERE id = ?').pluck(),
      // Every claimant of the key (one, or none, unless it was reused); firstClaimant orders them. An
      // ORDER BY here made SQLite build a sorter for each lookup, twice the cost of the lookup itself.
      trigger: prepare('SELECT run_key, claimed_ns FROM trigger_events WHERE event_key = ?'),
      decision: prepare('SELECT run_key, claimed_ns FROM decision_ids WHERE decision_id = ?'),
      insertRevision: prepare(
        `INSERT INTO run_revisions (run_key, revision, evaluated_ns, reason, status, outcome, record)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertFinding: prepare('INSERT OR IGNORE INTO run_findings (run_key, revision, code, started_ns) VALUES (?, ?, ?, ?)'),
      // The run that started last before this one (not the one judged last): re-judging a run, or
      // judging runs out of order, still compares with its predecessor.
      lastDefinition: prepare(
        `SELECT definition, run_key, started_ns FROM runs
         WHERE workflow = ? AND revision > 0 AND run_key <> ? AND started_ns <= ? AND definition IS NOT NULL
         ORDER BY started_ns DESC, run_key DESC LIMIT 1`,
      ),
      insertTrigger: prepare('INSERT OR IGNORE INTO trigger_events (event_key, run_key, claimed_ns) VALUES (?, ?, ?)'),
      insertDecision: prepare('INSERT OR IGNORE INTO decision_ids (decision_id, run_key, claimed_ns) VALUES (?, ?, ?)'),
      markEvaluated: prepare(
        // A span that arrived after the run was loaded keeps it open, to be judged again.
        `UPDATE runs SET state = CASE WHEN last_received_ns = @loaded_last_ns THEN 'evaluated' ELSE 'open' END,
           revision = revision + 1, workflow = @workflow, kind = @kind,
           status = @status, outcome = @outcome, actor_id = @actor_id, definition = @definition, started_ns = @started_ns,
           ended_ns = @ended_ns, evaluated_ns = @evaluated_ns, judged_spans = @judged_spans, duplicate_spans = @duplicate_spans
         WHERE run_key = @run_key`,
      ),
      markUnchanged: prepare(
        `UPDATE runs SET state = CASE WHEN last_received_ns = @loaded_last_ns THEN 'evaluated' ELSE 'open' END,
           duplicate_spans = @duplicate_spans
         WHERE run_key = @run_key`,
      ),
      // Read after the updates above rather than with RETURNING, which makes SQLite keep a statement
      // journal (a copy of every page the update touches: ~40 KiB written per run judged).
      savedState: prepare('SELECT revision, state FROM runs WHERE run_key = ?'),
    };
  }

  /** Workflow and status of every revision evaluated since the given time (to rebuild metrics). */
  revisionsSince(sinceNs: bigint): Array<{ workflow: string | null; status: string; evaluatedNs: bigint }> {
    const rows = this.db
      .prepare(
        // The run's workflow from its index row: parsing every record in the window would slow the start.
        `SELECT r.workflow, v.status, v.evaluated_ns FROM run_revisions v JOIN runs r ON r.run_key = v.run_key
         WHERE v.evaluated_ns >= ?`,
      )
      .safeIntegers(true)
      .all(sinceNs) as Array<{ workflow: string | null; status: string; evaluated_ns: bigint }>;
    return rows.map((r) => ({ workflow: r.workflow, status: r.status, evaluatedNs: r.evaluated_ns }));
  }

  runState(runKey: string): RunState | undefined {
    const row = this.stmt.state.get(runKey) as RunStateRow | undefined;
    return row === undefined ? undefined : toState(row);
  }

  /** The open runs, oldest first, read as the caller goes (stop early to read only the oldest). */
  *openRuns(): Generator<RunState, void, undefined> {
    for (const row of this.stmt.open.iterate() as IterableIterator<RunStateRow>) yield toState(row);
  }

  openRunCount(): number {
    return Number(this.stmt.openCount.get());
  }

  /**
   * A run's stored spans, copies of a span included, in no set order. Their bodies share one Buffer.
   * Row ids are numbers: SQLite hands them out in sequence, far below 2^53.
   */
  spanRows(runKey: string): StoredSpanRow[] {
    const { bodies, spans } = this.stmt.spans.get(runKey) as { bodies: Buffer | null; spans: string };
    const rows: StoredSpanRow[] = [];
    let offset = 0;
    for (const [id, length, resourceId, scopeId, redactions] of JSON.parse(spans) as SpanColumns[]) {
      rows.push({ id, body: bodies!.subarray(offset, offset + length), resourceId, scopeId, redactions });
      offset += length;
    }
    return rows;
  }

  resourceBody(id: number): Buffer {
    return this.stmt.resource.get(id) as Buffer;
  }

  scopeBody(id: number): Buffer {
    return this.stmt.scope.get(id) as Buffer;
  }

  firstTriggerClaimant(eventKey: string): Claimant | undefined {
    return firstClaimant(this.stmt.trigger.all(eventKey) as ClaimantRow[]);
  }

  firstDecisionClaimant(decisionId: string): Claimant | undefined {
    return firstClaimant(this.stmt.decision.all(decisionId) as ClaimantRow[]);
  }

  lastDefinition(workflow: string, exceptRunKey: string, startNs: bigint): { definition: string; runKey: string; startNs: bigint } | undefined {
    const row = this.stmt.lastDefinition.get(workflow, exceptRunKey, startNs) as { definition: string; run_key: string; started_ns: bigint } | undefined;
    return row === undefined ? undefined : { definition: row.definition, runKey: row.run_key, startNs: row.started_ns };
  }

  /**
   * Appends a prepared revision and updates the run's index; call inside a transaction. Returns the
   * revision and the run's state after it: 'open' when a span arrived after the run was loaded.
   */
  saveRevision<T extends RevisionRows>(prepared: T, loadedLastNs: bigint, duplicates: number, renumbered: (rows: T, revision: number) => T): SavedRevision {
    const { runKey, summary, evaluatedNs } = prepared;
    // The index row first: it hands out the revision number (one statement instead of a read and a write).
    this.stmt.markEvaluated.run({
      run_key: runKey,
      workflow: summary.workflow,
      kind: summary.kind,
      status: summary.status,
      outcome: summary.outcome,
      actor_id: summary.actorId,
      definition: summary.definition,
      started_ns: summary.startedNs,
      ended_ns: summary.endedNs,
      evaluated_ns: evaluatedNs,
      loaded_last_ns: loadedLastNs,
      judged_spans: summary.spanCount,
      duplicate_spans: duplicates,
    });
    const updated = this.savedState(runKey);
    const revision = updated === undefined ? 1 : Number(updated.revision);
    const p = prepared.revision === revision ? prepared : renumbered(prepared, revision);
    this.stmt.insertRevision.run(runKey, revision, evaluatedNs, p.reason, summary.status, summary.outcome, p.record);
    this.chain?.appendRevision(runKey, revision, evaluatedNs, p.chainPayloadJson);
    for (const code of new Set(summary.findingCodes)) this.stmt.insertFinding.run(runKey, revision, code, summary.startedNs);
    // Claimed at the run's start: of two runs using one key, the one that started first is the original.
    const claimedNs = summary.startedNs ?? evaluatedNs;
    if (summary.claims.trigger_event !== null) this.stmt.insertTrigger.run(summary.claims.trigger_event, runKey, claimedNs);
    for (const id of summary.claims.decision_ids) this.stmt.insertDecision.run(id, runKey, claimedNs);
    return { revision, state: updated?.state };
  }

  /**
   * Closes a judgement that found only copies of spans the last revision was judged on: no revision is
   * added (a re-export amends nothing), the copies are counted; call inside a transaction.
   */
  saveUnchanged(runKey: string, loadedLastNs: bigint, duplicates: number): SavedRevision {
    this.stmt.markUnchanged.run({ run_key: runKey, loaded_last_ns: loadedLastNs, duplicate_spans: duplicates });
    const updated = this.savedState(runKey);
    return { revision: updated === undefined ? 0 : Number(updated.revision), state: updated?.state };
  }

  private savedState(runKey: string): { revision: bigint; state: 'open' | 'evaluated' } | undefined {
    return this.stmt.savedState.get(runKey) as { revision: bigint; state: 'open' | 'evaluated' } | undefined;
  }

  /**
   * Runs `fn`'s reads in one read transaction: one snapshot of the store, locked and checked once
   * instead of at every statement (SQLite takes and drops the WAL read lock around each statement run
   * on its own; ~20 lock calls per run judged). Writers are not held back: in WAL mode a reader blocks
   * no one. `fn` must not write.
   */
  snapshot<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }
}

/** What spanRows reads of each span besides its body: id, body length, resource id, scope id, redactions. */
type SpanColumns = [number, number, number, number, unknown[] | null];

interface ClaimantRow {
  run_key: string;
  claimed_ns: bigint;
}

/** The claimant that claimed first; of a tie, the smaller run key as SQLite orders text (by its UTF-8 bytes). */
function firstClaimant(rows: readonly ClaimantRow[]): Claimant | undefined {
  let first: ClaimantRow | undefined;
  for (const r of rows) {
    if (first === undefined || r.claimed_ns < first.claimed_ns) first = r;
    else if (r.claimed_ns === first.claimed_ns && Buffer.compare(Buffer.from(r.run_key), Buffer.from(first.run_key)) < 0) first = r;
  }
  return first === undefined ? undefined : { runKey: first.run_key, claimedNs: first.claimed_ns };
}

function toState(row: RunStateRow): RunState {
  return {
    runKey: row.run_key,
    state: row.state,
    firstReceivedNs: row.first_received_ns,
    lastReceivedNs: row.last_received_ns,
    hasRoot: row.has_root !== 0n,
    spanCount: Number(row.span_count),
    revision: Number(row.revision),
    judgedSpans: row.judged_spans === null ? null : Number(row.judged_spans),
    duplicateSpans: Number(row.duplicate_spans),
  };
}
