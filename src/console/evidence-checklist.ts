import type { RunRecord } from '../api/run-record.js';
import type { Profile } from '../evidence/profiles.js';
import { byStepStart, type Step } from '../evidence/steps.js';

export type ChecklistState = 'present' | 'missing' | 'failed' | 'not_required';

/** One thing the run's profiles ask for, and whether the run shows it. */
export interface ChecklistItem {
  readonly requirement: string;
  readonly kind: 'field' | 'decision' | 'change';
  readonly state: ChecklistState;
  readonly value?: string;
  /** The span that proves it (or the failed attempt). */
  readonly span_id?: string;
  /** Why it is missing, failed or not required. */
  readonly note?: string;
}

/** The parts of a shown run the checklist reads. */
export type ChecklistRun = Pick<RunRecord, 'profiles' | 'evidence' | 'findings' | 'steps'>;

/**
 * The evidence checklist of a judged run: each field, decision and change its profiles require, with
 * the span that proves it, or the finding that says it is missing or failed. Reads the profiles the run
 * was judged against by name; the verdict itself is the findings, so this never judges anew.
 */
export function evidenceChecklist(
  run: ChecklistRun,
  profiles: ReadonlyMap<string, Profile>,
  /** The span a run-level field's value was read from (see field-source.ts). */
  fieldSource: (field: string, value: string) => string | undefined = () => undefined,
): ChecklistItem[] {
  const applied = run.profiles.flatMap((name) => profiles.get(name) ?? []);
  const evidence: Readonly<Record<string, string | undefined>> = run.evidence;
  const { findings } = run;
  // Run-level evidence is read root first, then the other spans in history order (evaluate.ts).
  const steps = [...run.steps].sort((a, b) => Number(b.root === true) - Number(a.root === true));
  const finding = (code: string, field?: string, spanId?: string) =>
    findings.find((f) => f.code === code && (field === undefined || f.field === field) && (spanId === undefined || f.span_id === spanId));
  const provingSpan = (field: string, value: string) =>
    steps.find((s) => (s.evidence as Record<string, string>)[field] === value)?.span_id ?? fieldSource(field, value);
  const items: ChecklistItem[] = [];

  const fieldItem = (field: string, whenAbsent: () => ChecklistItem): ChecklistItem => {
    const value = evidence[field];
    const invalid = findings.find((f) => f.code === 'invalid_field' && f.field === field);
    if (value === undefined) return whenAbsent();
    const spanId = provingSpan(field, value);
    return {
      requirement: field,
      kind: 'field',
      state: invalid === undefined ? 'present' : 'failed',
      value,
      ...(spanId !== undefined ? { span_id: spanId } : {}),
      ...(invalid !== undefined ? { note: invalid.message } : {}),
    };
  };
  const missingField = (field: string): ChecklistItem => {
    const why = findings.find((f) => f.code === 'missing_field' && f.field === field && f.span_id === undefined);
    return { requirement: field, kind: 'field', state: 'missing', ...(why ? { note: why.message } : {}) };
  };

  const required = new Set(applied.flatMap((p) => p.required_fields));
  for (const field of required) items.push(fieldItem(field, () => missingField(field)));
  for (const field of new Set(applied.flatMap((p) => p.required_fields_if_acted))) {
    if (required.has(field)) continue;
    items.push(
      fieldItem(field, () =>
        finding('missing_field', field) !== undefined
          ? missingField(field)
          : { requirement: field, kind: 'field', state: 'not_required', note: 'required once a change succeeds; none did' },
      ),
    );
  }
  if (applied.some((p) => p.failure_class_on_failure) && !required.has('failure.class')) {
    items.push(
      fieldItem('failure.class', () =>
        finding('missing_field', 'failure.class') !== undefined
          ? missingField('failure.class')
          : { requirement: 'failure.class', kind: 'field', state: 'not_required', note: 'required when the run fails; it did not' },
      ),
    );
  }

  const decisionRule = applied.some((p) => p.require_decision === 'allow') ? 'allow' : applied.some((p) => p.require_decision === 'any') ? 'any' : 'none';
  if (decisionRule !== 'none') {
    const decisions = steps.filter((s) => s.evidence['decision.policy'] !== undefined && s.evidence['decision.result'] !== undefined);
    const allow = decisions.find((s) => s.evidence['decision.result']?.toLowerCase() === 'allow');
    const proof = decisionRule === 'allow' ? (allow ?? (finding('missing_decision') ? undefined : decisions[0])) : decisions[0];
    const requirement = decisionRule === 'allow' ? 'an allow decision' : 'a policy decision';
    const missing = finding('missing_decision');
    items.push(
      proof === undefined
        ? { requirement, kind: 'decision', state: 'missing', ...(missing ? { note: missing.message } : {}) }
        : { requirement, kind: 'decision', state: 'present', value: `${proof.evidence['decision.policy']}: ${proof.evidence['decision.result']}`, span_id: proof.span_id },
    );
  }

  const changes = steps.filter((s) => s.type === 'change' || s.type === 'tool_call');
  if (applied.some((p) => p.require_change)) {
    const first = changes[0];
    const missing = finding('missing_change');
    items.push(
      first !== undefined
        ? { requirement: 'a change step', kind: 'change', state: 'present', value: changeLabel(first), span_id: first.span_id }
        : missing !== undefined
          ? { requirement: 'a change step', kind: 'change', state: 'missing', note: missing.message }
          : { requirement: 'a change step', kind: 'change', state: 'not_required', note: 'the run failed or was denied before acting' },
    );
  }
  for (const req of applied.flatMap((p) => p.required_changes)) {
    const attempts = changes.filter((s) => s.evidence['change.operation'] === req.operation).sort(byStepStart);
    const last = attempts.at(-1);
    const requirement = `${req.operation}${req.must_succeed ? ', succeeded' : ''}`;
    if (last === undefined) {
      items.push({ requirement, kind: 'change', state: 'missing', ...(req.message ? { note: req.message } : {}) });
      continue;
    }
    const shortfall = finding('partial_change', undefined, last.span_id);
    const failed = shortfall !== undefined || (req.must_succeed && last.succeeded === false);
    items.push({
      requirement,
      kind: 'change',
      state: failed ? 'failed' : 'present',
      value: changeLabel(last),
      span_id: last.span_id,
      ...(failed ? { note: shortfall?.message ?? `the last ${req.operation} attempt failed` } : {}),
      ...(!failed && attempts.length > 1 ? { note: `${attempts.length} attempts; the last counts` } : {}),
    });
  }
  return items;
}

const changeLabel = (s: Step): string => `${s.evidence['change.operation'] ?? s.evidence['tool.name'] ?? s.name} ${s.evidence['change.target'] ?? ''}`.trim();
