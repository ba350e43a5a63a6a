import { CHECKS } from './checks/index.js';
import { decisionIds } from './checks/replay.js';
import { policiesOfDecisions } from './checks/catalogue.js';
import type { Outcome } from './changes.js';
import type { FieldName } from './fields.js';
import { statusOf, type Finding, type RunStatus } from './findings.js';
import { readRunFacts, type ActorView, type EvaluationContext } from './run-facts.js';
import type { RunInput } from './run-input.js';
import { isoTime, toStep, type RunStep } from './steps.js';

export type { Outcome } from './changes.js';
export type { ActorView, Enrichment, EvaluationContext } from './run-facts.js';

/** A judged run: the record the store keeps for each revision and the CLI/API show. */
export interface RunVerdict {
  readonly run_id: string;
  readonly workflow: string | null;
  readonly kind: string | null;
  readonly status: RunStatus;
  readonly outcome: Outcome;
  readonly declared_result: string | null;
  readonly actor: ActorView;
  readonly requester_id: string | null;
  readonly trigger: { readonly kind: string | null; readonly event: string | null };
  readonly definition: string | null;
  readonly started_at: string | null;
  readonly ended_at: string | null;
  readonly root_span_id: string | null;
  readonly trace_ids: readonly string[];
  readonly span_count: number;
  readonly profiles: readonly string[];
  /** Revisions of the inventory and catalogue this run was judged against. */
  readonly reference: { readonly inventory: string | null; readonly catalogue: string | null };
  /** Run-level evidence fields that were found. */
  readonly evidence: Partial<Record<FieldName, string>>;
  readonly findings: readonly Finding[];
  /** Stored compactly (see step-record.ts) and shown as Steps (stepView). */
  readonly steps: readonly RunStep[];
  /** What was erased before storage, per span (OPA-style masking record): never the values. */
  readonly redactions: ReadonlyArray<{ readonly span_id: string; readonly target: string; readonly key: string; readonly reason: string }>;
  /** Keys this run claims, so later runs that reuse them are caught. */
  readonly claims: { readonly trigger_event: string | null; readonly decision_ids: readonly string[]; readonly definition: string | null };
}

/**
 * Judges one run against the default profile and the profile of its kind: the run's facts are read
 * once, then every check (checks/index.ts) turns them into findings, in order. Pure but for `history`.
 */
export function evaluateRun(input: RunInput, ctx: EvaluationContext): RunVerdict {
  const run = readRunFacts(input, ctx);
  const findings = CHECKS.flatMap((check) => check(run));
  const { spans, evidence, root, inventory, catalogue } = run;
  const policies = policiesOfDecisions(run);
  const steps = run.spanEvidence.map((e) => toStep(e, e.span === root, policies.get(e.span.spanId), run.stepActors.get(e.span.spanId)));
  const redactions: Array<RunVerdict['redactions'][number]> = [];
  for (const span of spans) {
    for (const r of span.redactions) redactions.push({ span_id: span.spanId, ...r });
  }
  return {
    run_id: input.runKey,
    workflow: evidence['run.workflow'] ?? null,
    kind: run.kind ?? null,
    status: statusOf(findings),
    outcome: run.changes.outcome,
    declared_result: evidence['run.result'] ?? null,
    actor: run.actor,
    requester_id: evidence['requester.id'] ?? null,
    trigger: { kind: evidence['trigger.kind'] ?? null, event: run.triggerEvent },
    definition: evidence['run.definition'] ?? null,
    started_at: spans.length > 0 ? isoTime(run.startNs) : null,
    ended_at: spans.length > 0 ? isoTime(maxOf(spans.map((s) => s.endNs))) : null,
    root_span_id: root?.spanId ?? null,
    trace_ids: [...new Set(spans.map((s) => s.traceId))],
    span_count: spans.length,
    profiles: run.profiles.names,
    reference: { inventory: inventory?.revision ?? null, catalogue: catalogue?.revision ?? null },
    evidence,
    findings,
    steps,
    redactions,
    claims: { trigger_event: run.triggerEvent, decision_ids: decisionIds(run.decisions), definition: evidence['run.definition'] ?? null },
  };
}

const maxOf = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a));
