import type { ClaimRow, FindingRow, RunIndexRow } from '../store/chain-store.js';
import type { VerifyProblem } from './verify-problem.js';

/**
 * Queries do not read the sealed records: `runs list` filters on the `runs` index, `--finding` on
 * `run_findings`, replay detection on the claim tables. Each of those rows must say what the sealed
 * revision it stands for says, or an edit there (a violation flipped to compliant) would change every
 * answer while the chain stays intact.
 */

/** The fields of a sealed revision record that index rows copy (the start in ms: records keep ISO times). */
type SealedRecord = Pick<RunIndexRow, 'workflow' | 'kind' | 'status' | 'outcome' | 'actor_id' | 'definition'> & { readonly started_ms: number | null };

/** What the sealed revisions of one run say, as verify reads them in chain order. */
interface SealedRun {
  latestRevision: number;
  latestSeq: number;
  /** The latest revision's record; undefined when that record is missing or altered (reported already). */
  latest: SealedRecord | undefined;
  /** Finding codes of each revision whose record is intact. */
  readonly findings: Map<number, ReadonlySet<string>>;
  /** Claim ("trigger\0key" / "decision\0key") → the times (ms) a revision could have claimed it at. */
  readonly claims: Map<string, Set<number>>;
  /** Some record of the run is missing or altered: its claims are unknown. */
  claimsUnknown: boolean;
}

/** What verify passes for the index rows (read once each, in one snapshot with the chain). */
export interface IndexRows {
  readonly runs: ReadonlyMap<string, RunIndexRow>;
  readonly findings: Iterable<FindingRow>;
  readonly claims: Iterable<ClaimRow>;
}

const INDEX_FIELDS = ['workflow', 'kind', 'status', 'outcome', 'actor_id', 'definition', 'started_ms'] as const;

/** Collects, revision by revision, what the index must agree with; then compares the index rows. */
export class IndexExpectations {
  private readonly runs = new Map<string, SealedRun>();

  /** A sealed revision of a run; `record` is its parsed record, or undefined when missing or altered. */
  addRevision(runKey: string, revision: number, seq: number, record: unknown): void {
    let run = this.runs.get(runKey);
    if (run === undefined) {
      run = { latestRevision: 0, latestSeq: 0, latest: undefined, findings: new Map(), claims: new Map(), claimsUnknown: false };
      this.runs.set(runKey, run);
    }
    const sealed = record === undefined ? undefined : readRecord(record);
    if (revision >= run.latestRevision) {
      run.latestRevision = revision;
      run.latestSeq = seq;
      run.latest = sealed?.summary;
    }
    if (sealed === undefined) {
      run.claimsUnknown = true;
      return;
    }
    run.findings.set(revision, sealed.findings);
    for (const claim of sealed.claims) {
      const times = run.claims.get(claim) ?? new Set<number>();
      times.add(sealed.claimedMs);
      run.claims.set(claim, times);
    }
  }

  /** Forgets a run reported as deleted: its leftover rows add nothing to that report. */
  forget(runKey: string): void {
    this.runs.delete(runKey);
  }

  /**
   * Every index row against the sealed revision it stands for. `prunedRuns` are runs whose revisions
   * retention removed: their claims stay by design (a replay of a pruned run is still caught).
   */
  check(rows: IndexRows, prunedRuns: ReadonlySet<string>): VerifyProblem[] {
    const problems: VerifyProblem[] = [];
    const mismatch = (run_id: string, revision: number, message: string, seq?: number) =>
      problems.push({ kind: 'index_mismatch', ...(seq !== undefined ? { seq } : {}), run_id, revision, message });

    for (const [runKey, run] of this.runs) {
      const row = rows.runs.get(runKey);
      if (row === undefined) {
        mismatch(runKey, run.latestRevision, `runs row of run ${runKey} is missing: queries do not list its sealed revision ${run.latestRevision}`, run.latestSeq);
      } else if (row.revision !== run.latestRevision) {
        mismatch(runKey, row.revision, `runs row of run ${runKey} names revision ${row.revision}, the latest sealed is ${run.latestRevision}`, run.latestSeq);
      } else if (run.latest !== undefined) {
        const indexed = indexedFields(row);
        for (const field of INDEX_FIELDS) {
          if (indexed[field] !== run.latest[field]) {
            mismatch(
              runKey,
              row.revision,
              `runs row of run ${runKey} says ${field} ${String(indexed[field])}, its sealed revision ${row.revision} says ${String(run.latest[field])}`,
              run.latestSeq,
            );
          }
        }
      }
    }
    for (const [runKey, row] of rows.runs) {
      if (!this.runs.has(runKey)) mismatch(runKey, row.revision, `runs row of run ${runKey} (revision ${row.revision}) has no sealed revision`);
    }

    const indexedFindings = new Map<string, Set<string>>();
    for (const f of rows.findings) {
      const key = `${f.run_key}\u0000${f.revision}`;
      const codes = indexedFindings.get(key) ?? new Set<string>();
      codes.add(f.code);
      indexedFindings.set(key, codes);
      const run = this.runs.get(f.run_key);
      const sealed = run?.findings.get(f.revision);
      if (run === undefined ? !prunedRuns.has(f.run_key) : sealed !== undefined && !sealed.has(f.code)) {
        mismatch(f.run_key, f.revision, `run_findings row (${f.code}) of run ${f.run_key} revision ${f.revision} is not a finding of that sealed revision`);
      }
    }
    // Only the latest revision's rows are read by `--finding`: one missing there hides the run.
    for (const [runKey, run] of this.runs) {
      const sealed = run.findings.get(run.latestRevision);
      const indexed = indexedFindings.get(`${runKey}\u0000${run.latestRevision}`);
      for (const code of sealed ?? []) {
        if (!indexed?.has(code)) {
          mismatch(runKey, run.latestRevision, `run_findings row (${code}) of run ${runKey} revision ${run.latestRevision} is missing`, run.latestSeq);
        }
      }
    }

    const indexedClaims = new Set<string>();
    for (const c of rows.claims) {
      const claim = `${c.claim}\u0000${c.key}`;
      indexedClaims.add(`${c.run_key}\u0000${claim}`);
      const run = this.runs.get(c.run_key);
      const times = run?.claims.get(claim);
      const claimedMs = Number(c.claimed_ns / 1_000_000n);
      // A claim no live revision explains may be a pruned revision's (a run id can be sent again).
      if (run?.claimsUnknown || (prunedRuns.has(c.run_key) && !times?.has(claimedMs))) continue;
      if (times === undefined) {
        mismatch(c.run_key, run?.latestRevision ?? 0, `${c.claim} claim ${c.key} of run ${c.run_key} is in no sealed revision of that run`);
      } else if (!times.has(claimedMs)) {
        // The earliest claimant is the original: a moved time makes another run look like the replay.
        mismatch(c.run_key, run!.latestRevision, `${c.claim} claim ${c.key} of run ${c.run_key} is dated ${new Date(claimedMs).toISOString()}, when no sealed revision started`);
      }
    }
    for (const [runKey, run] of this.runs) {
      for (const claim of run.claims.keys()) {
        if (!indexedClaims.has(`${runKey}\u0000${claim}`)) {
          const [kind, key] = claim.split('\u0000') as [string, string];
          mismatch(runKey, run.latestRevision, `${kind} claim ${key} of run ${runKey} is missing: a replay of it would go unnoticed`, run.latestSeq);
        }
      }
    }
    return problems;
  }
}

function indexedFields(row: RunIndexRow): SealedRecord {
  return {
    workflow: row.workflow,
    kind: row.kind,
    status: row.status,
    outcome: row.outcome,
    actor_id: row.actor_id,
    definition: row.definition,
    started_ms: row.started_ns === null ? null : Number(row.started_ns / 1_000_000n),
  };
}

/** Reads a sealed record defensively: it is JSON an attacker may have shaped (its digest matched, though). */
function readRecord(record: unknown): { summary: SealedRecord; findings: ReadonlySet<string>; claims: string[]; claimedMs: number } | undefined {
  if (typeof record !== 'object' || record === null) return undefined;
  const r = record as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  const ms = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : null);
  const actor = typeof r.actor === 'object' && r.actor !== null ? (r.actor as Record<string, unknown>) : {};
  const claims = typeof r.claims === 'object' && r.claims !== null ? (r.claims as Record<string, unknown>) : {};
  const findings = Array.isArray(r.findings) ? r.findings : [];
  const summary: SealedRecord = {
    workflow: text(r.workflow),
    kind: text(r.kind),
    status: text(r.status),
    outcome: text(r.outcome),
    actor_id: text(actor.id),
    definition: text(r.definition),
    started_ms: ms(r.started_at),
  };
  const claimed = [
    ...(typeof claims.trigger_event === 'string' ? [`trigger\u0000${claims.trigger_event}`] : []),
    ...(Array.isArray(claims.decision_ids) ? claims.decision_ids.filter((d): d is string => typeof d === 'string').map((d) => `decision\u0000${d}`) : []),
  ];
  return {
    summary,
    findings: new Set(findings.map((f) => text((f as Record<string, unknown> | null)?.code)).filter((c): c is string => c !== null)),
    claims: claimed,
    // A run claims its keys at its start (at its evaluation when it has no span), as RunStore does.
    claimedMs: summary.started_ms ?? ms(r.evaluated_at) ?? 0,
  };
}
