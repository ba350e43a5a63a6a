import type { RunVerdict } from '../evidence/evaluate.js';
import { stepsOfRecord, type StoredStep } from '../evidence/step-record.js';
import type { Step } from '../evidence/steps.js';
import type { RevisionRow, RunFilter, RunQueries, RunRow } from '../store/run-queries.js';
import type { EvaluationReason } from '../runs/seal.js';

/**
 * A revision record as the seal stage writes it (runs/seal.ts) and the store keeps it: the whole
 * verdict with run_id and revision first, its steps compact (step-record.ts; records written before
 * that format hold Steps), and when and why the run was judged.
 */
export type RevisionRecord = { readonly run_id: string; readonly revision: number } & Omit<RunVerdict, 'run_id' | 'steps'> & {
    readonly steps: readonly StoredStep[] | readonly Step[];
    readonly evaluated_at: string;
    readonly reason: EvaluationReason;
  };

/** One revision in a run's history. */
export type RevisionSummary = Pick<RevisionRecord, 'revision' | 'evaluated_at' | 'reason' | 'status' | 'outcome'>;

/**
 * A judged run as the API, CLI (`--json`) and console show it: a revision's record with its steps in
 * full and without its claims, plus the run's state and revision history.
 */
export type RunRecord = Omit<RevisionRecord, 'steps' | 'claims'> & {
  readonly steps: readonly Step[];
  readonly state: RunRow['state'];
  readonly revisions: readonly RevisionSummary[];
};

/** A run whose spans are stored but which has no revision yet (revision 0). */
export type UnjudgedRun = Pick<RunRecord, 'run_id' | 'state' | 'span_count' | 'revisions'> & { readonly revision: 0 };

/** What `runs show` and GET /api/v1/runs/{id} return. */
export type ShownRun = RunRecord | UnjudgedRun;

/** A run in the runs list: its latest record without steps, evidence, redactions and claims, plus its state. */
export type RunSummary = Omit<RevisionRecord, 'steps' | 'evidence' | 'redactions' | 'claims'> & { readonly state: RunRow['state'] };

export interface RunList {
  readonly runs: readonly RunSummary[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  readonly next_cursor: string | null;
}

export const isJudged = (run: ShownRun): run is RunRecord => run.revision > 0;

/** A page of the runs list (`runs list`, GET /api/v1/runs, the console's runs page), newest first. */
export function listRuns(queries: RunQueries, filter: RunFilter = {}): RunList {
  const { summaries, next_cursor } = queries.listRuns(filter);
  return { runs: summaries.map((text) => JSON.parse(text) as RunSummary), next_cursor };
}

/** The run's latest revision (or the given one) with its history and state; undefined if unknown. */
export function showRun(queries: RunQueries, runKey: string, revision?: number): ShownRun | undefined {
  const run = queries.runRow(runKey);
  if (run === undefined) return undefined;
  if (revision === undefined && run.revision === 0) {
    return { run_id: runKey, revision: 0, state: run.state, span_count: run.span_count, revisions: history(queries, runKey) };
  }
  return judgedRun(queries, runKey, run, revision ?? run.revision);
}

/** A sealed revision of the run, as showRun shows it; undefined if the run has no such revision. */
export function showRevision(queries: RunQueries, runKey: string, revision: number): RunRecord | undefined {
  const run = queries.runRow(runKey);
  return run === undefined ? undefined : judgedRun(queries, runKey, run, revision);
}

function judgedRun(queries: RunQueries, runKey: string, run: RunRow, revision: number): RunRecord | undefined {
  const text = queries.recordText(runKey, revision);
  if (text === undefined) return undefined;
  const { claims: _claims, ...record } = JSON.parse(text) as RevisionRecord;
  // Compact stored steps are shown in full; the key keeps its place in the record.
  return { ...record, steps: stepsOfRecord(record) ?? [], state: run.state, revisions: history(queries, runKey) };
}

const history = (queries: RunQueries, runKey: string): RevisionSummary[] => queries.revisionRows(runKey).map(revisionSummary);

/** The index row's copies of a revision's verdict, which it took from the record. */
function revisionSummary(row: RevisionRow): RevisionSummary {
  return {
    revision: row.revision,
    evaluated_at: new Date(Math.floor(row.evaluated_ns / 1e6)).toISOString(),
    reason: row.reason as RevisionSummary['reason'],
    status: row.status as RevisionSummary['status'],
    outcome: row.outcome as RevisionSummary['outcome'],
  };
}
