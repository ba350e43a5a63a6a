import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { evaluationContext, ROOT_ID, runSpan, workflowRun } from '../../test/support/run-spans.js';
import { evaluateRun, type RunVerdict } from '../evidence/evaluate.js';
import type { RunSpan } from '../evidence/run-input.js';
import { stepView } from '../evidence/steps.js';
import { renumbered, sealRevision, type EvaluationReason } from '../runs/seal.js';
import { openDatabase, type Database } from '../store/database.js';
import { RunQueries } from '../store/run-queries.js';
import { RunStore } from '../store/run-store.js';
import { isJudged, listRuns, showRevision, showRun } from './run-record.js';

const context = evaluationContext();
/** 2026-12-01T00:00:00Z in unix nanoseconds. */
const EVALUATED_NS = 1_796_083_200_000_000_000n;

/** Run records read back from a real SQLite store, written by the real evaluate → seal → save path. */
describe('run records', () => {
  let dir: string;
  let db: Database;
  let queries: RunQueries;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'runledger-run-record-'));
    db = openDatabase({ path: join(dir, 'runledger.db'), synchronous: 'normal', busy_timeout_ms: 1000 });
    queries = new RunQueries(db);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function openRun(runKey: string, spanCount: number): void {
    db.prepare("INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count) VALUES (?, 'open', 1, 1, 1, ?)").run(runKey, spanCount);
  }

  /** Judges the spans and saves the revision as run history does; returns the verdict and the stored record's text. */
  function judge(runKey: string, spans: RunSpan[], reason: EvaluationReason, evaluatedNs: bigint, revision: number): { verdict: RunVerdict; text: string } {
    const store = new RunStore(db);
    const input = { runKey, spans };
    const verdict = evaluateRun(input, context);
    db.transaction(() => store.saveRevision(sealRevision(input, verdict, reason, evaluatedNs, revision), 1n, 0, renumbered))();
    return { verdict, text: queries.recordText(runKey, revision)! };
  }

  const rotation = () =>
    workflowRun('secret_rotation', [
      ['policy', { 'nhi.policy.id': 'rotate-policy', 'nhi.policy.decision': 'allow' }],
      ['create', { 'nhi.change.operation': 'create', 'nhi.change.target': 'secret/db#v2' }],
      ['revoke', { 'nhi.change.operation': 'revoke', 'nhi.change.target': 'secret/db#v1' }, { error: true }],
    ]);

  it('stores exactly the verdict with revision, evaluated_at and reason: the fields RevisionRecord names', () => {
    openRun('run-1', 4);
    const { verdict, text } = judge('run-1', rotation(), 'settled', EVALUATED_NS, 1);
    const stored = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(stored)).toEqual(['run_id', 'revision', ...Object.keys(verdict).filter((k) => k !== 'run_id'), 'evaluated_at', 'reason']);
    // The steps are stored compact (arrays), so showing them is the reader's work.
    expect(Array.isArray((stored.steps as unknown[])[0])).toBe(true);
  });

  it('shows a revision as stored, with its steps in full, without claims, then state and history', () => {
    openRun('run-1', 4);
    const { verdict, text } = judge('run-1', rotation(), 'settled', EVALUATED_NS, 1);
    const shown = showRun(queries, 'run-1')!;
    if (!isJudged(shown)) throw new Error('revision 1 was saved');

    const stored = JSON.parse(text) as Record<string, unknown>;
    // Key order is part of the API's and CLI's JSON: the record's own, claims left out, then state and revisions.
    expect(Object.keys(shown)).toEqual([...Object.keys(stored).filter((k) => k !== 'claims'), 'state', 'revisions']);
    expect(shown.steps).toEqual(verdict.steps.map(stepView));
    expect(shown.steps.find((s) => s.name === 'revoke')).toMatchObject({ type: 'change', succeeded: false, parent_span_id: ROOT_ID });
    expect(shown).toMatchObject({ run_id: 'run-1', revision: 1, status: verdict.status, outcome: 'partial', reason: 'settled', state: 'evaluated' });
    expect(shown.revisions).toEqual([
      { revision: 1, evaluated_at: '2026-12-01T00:00:00.000Z', reason: 'settled', status: verdict.status, outcome: 'partial' },
    ]);
    expect(showRevision(queries, 'run-1', 1)).toEqual(shown);
  });

  it('shows an older revision with the run current state and whole history', () => {
    openRun('run-1', 4);
    const spans = rotation();
    judge('run-1', spans.slice(0, 3), 'settled', EVALUATED_NS, 1);
    judge('run-1', spans, 'amended', EVALUATED_NS + 60_000_000_000n, 2);

    const first = showRevision(queries, 'run-1', 1)!;
    expect(first.steps.map((s) => s.name)).toEqual(['workflow', 'policy', 'create']);
    expect(first).toMatchObject({ revision: 1, reason: 'settled', state: 'evaluated' });
    expect(first.revisions.map((r) => [r.revision, r.reason, r.evaluated_at])).toEqual([
      [1, 'settled', '2026-12-01T00:00:00.000Z'],
      [2, 'amended', '2026-12-01T00:01:00.000Z'],
    ]);
    expect(showRun(queries, 'run-1')?.revision).toBe(2);
    expect(showRun(queries, 'run-1', 3)).toBeUndefined();
  });

  it('shows a run with no revision yet as its index row, and nothing for an unknown run', () => {
    openRun('run-open', 3);
    const shown = showRun(queries, 'run-open')!;
    expect(shown).toEqual({ run_id: 'run-open', revision: 0, state: 'open', span_count: 3, revisions: [] });
    expect(isJudged(shown)).toBe(false);
    expect(showRevision(queries, 'run-open', 1)).toBeUndefined();
    expect(showRun(queries, 'no-such-run')).toBeUndefined();
    expect(showRevision(queries, 'no-such-run', 1)).toBeUndefined();
  });

  it('lists runs newest first as summaries: the record without steps, evidence, redactions and claims, plus state', () => {
    openRun('run-old', 1);
    openRun('run-new', 1);
    const { text } = judge('run-old', [runSpan('old', { 'nhi.workflow.run.id': 'run-old' }, { start: 1_000_000n })], 'settled', EVALUATED_NS, 1);
    judge('run-new', [runSpan('new', { 'nhi.workflow.run.id': 'run-new' }, { start: 2_000_000n })], 'max_open', EVALUATED_NS, 1);

    const first = listRuns(queries, { limit: 1 });
    expect(first.runs.map((r) => r.run_id)).toEqual(['run-new']);
    const second = listRuns(queries, { limit: 1, cursor: first.next_cursor! });
    expect(second).toMatchObject({ runs: [{ run_id: 'run-old', state: 'evaluated' }], next_cursor: null });

    const omitted = new Set(['steps', 'evidence', 'redactions', 'claims']);
    const stored = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(second.runs[0]!)).toEqual([...Object.keys(stored).filter((k) => !omitted.has(k)), 'state']);
    const { steps: _steps, evidence: _evidence, redactions: _redactions, revisions: _revisions, ...summary } = showRevision(queries, 'run-old', 1)!;
    expect(second.runs[0]).toEqual(summary);
  });
});
