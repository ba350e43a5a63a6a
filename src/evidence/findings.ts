import type { RuleId } from './rules.js';

/** Findings are data, never exceptions (DESIGN §5). */
export type Severity = 'info' | 'warning' | 'error' | 'critical';

/** What a finding says about the run: evidence is missing, or something is wrong with it. */
export type FindingClass = 'evidence' | 'violation' | 'info';

export interface Finding {
  readonly code: FindingCode;
  readonly severity: Severity;
  /** The rule the run breaks (see RULES). */
  readonly rule: RuleId;
  /** The profile whose requirement it is; absent for rules every run obeys. */
  readonly profile?: string;
  readonly field?: string;
  /** The span it is about first (the step that broke the rule). */
  readonly span_id?: string;
  /** Every span it is about, when more than one (the change and the decision that came too late). */
  readonly span_ids?: readonly string[];
  readonly message: string;
  readonly controls: readonly string[];
}

/** What a check adds to a finding beyond its code and message. */
export interface FindingDetails {
  readonly rule?: RuleId;
  readonly profile?: string;
  readonly field?: string;
  readonly span_id?: string;
  readonly span_ids?: readonly string[];
  readonly controls?: readonly string[];
  readonly severity?: Severity;
}

interface CodeInfo {
  readonly severity: Severity;
  readonly class: FindingClass;
  /** The rule a finding of this code breaks unless the check names another. */
  readonly rule: RuleId;
  /** OWASP Non-Human Identities Top 10 (2025) and NIST CSF 2.0 references. */
  readonly controls: readonly string[];
  readonly meaning: string;
}

export const FINDING_CODES = {
  missing_field: {
    severity: 'warning',
    class: 'evidence',
    rule: 'required_fields',
    controls: ['PR.PS-04', 'RS.AN-07'],
    meaning: 'an evidence field the profile requires is absent',
  },
  invalid_field: {
    severity: 'warning',
    class: 'evidence',
    rule: 'field_values',
    controls: ['PR.PS-04'],
    meaning: 'an evidence field has a value the profile does not accept',
  },
  missing_decision: {
    severity: 'warning',
    class: 'evidence',
    rule: 'require_decision',
    controls: ['PR.AA-05', 'PR.PS-04'],
    meaning: 'no policy decision the profile requires was recorded',
  },
  missing_change: {
    severity: 'warning',
    class: 'evidence',
    rule: 'require_change',
    controls: ['PR.PS-04', 'DE.CM-03'],
    meaning: 'no change step (operation and target) was recorded',
  },
  partial_change: {
    severity: 'error',
    class: 'evidence',
    rule: 'required_changes',
    controls: ['PR.AA-01', 'PR.PS-04'],
    meaning: 'a required change step is absent, failed, or its verification shows it did not take',
  },
  constraint_failed: {
    severity: 'warning',
    class: 'evidence',
    rule: 'constraints',
    controls: ['PR.PS-04'],
    meaning: 'a profile constraint on attribute values does not hold',
  },
  change_after_deny: {
    severity: 'critical',
    class: 'violation',
    rule: 'deny_binds',
    controls: ['NHI5', 'PR.AA-05', 'DE.CM-03'],
    meaning: 'a change succeeded after a deny decision of its step, with no allow between them',
  },
  grant_duration_exceeded: {
    severity: 'critical',
    class: 'violation',
    rule: 'max_grant_duration_minutes',
    controls: ['NHI5', 'NHI7', 'PR.AA-05'],
    meaning: "a grant lasts longer than its profile's max_grant_duration_minutes",
  },
  ungated_change: {
    severity: 'critical',
    class: 'violation',
    rule: 'gate_changes_on_allow',
    controls: ['NHI5', 'PR.AA-05'],
    meaning: 'a change succeeded without the allow decision that must gate it',
  },
  replayed_trigger: {
    severity: 'critical',
    class: 'violation',
    rule: 'unique_trigger',
    controls: ['NHI4', 'DE.CM-09', 'PR.AA-05'],
    meaning: 'the trigger event (source and id) already started an earlier run',
  },
  reused_approval: {
    severity: 'critical',
    class: 'violation',
    rule: 'unique_approval',
    controls: ['NHI5', 'PR.AA-05', 'DE.CM-03'],
    meaning: 'a policy decision id already authorised a different run',
  },
  tool_outside_boundary: {
    severity: 'critical',
    class: 'violation',
    rule: 'tool_boundary',
    controls: ['NHI5', 'PR.AA-05'],
    meaning: "an agent called a tool outside its approved tool set",
  },
  unregistered_identity: {
    severity: 'critical',
    class: 'violation',
    rule: 'registered_identity',
    controls: ['NHI1', 'PR.AA-01', 'DE.CM-03'],
    meaning: 'the acting identity is not in the NHI inventory',
  },
  definition_drift: {
    severity: 'critical',
    class: 'violation',
    rule: 'pinned_definition',
    controls: ['DE.CM-09', 'PR.PS-04'],
    meaning: 'the workflow definition differs from the pinned one',
  },
  unknown_policy: {
    severity: 'warning',
    class: 'evidence',
    rule: 'policy_catalogue',
    controls: ['PR.AA-05', 'PR.PS-04'],
    meaning: 'a decision cites a policy that is not in the policy catalogue',
  },
  policy_revision_mismatch: {
    severity: 'warning',
    class: 'evidence',
    rule: 'policy_catalogue',
    controls: ['PR.AA-05', 'DE.CM-09'],
    meaning: "a decision cites a policy revision other than the catalogue's current one",
  },
  agent_boundary_missing: {
    severity: 'warning',
    class: 'evidence',
    rule: 'tool_boundary',
    controls: ['NHI5', 'PR.AA-05'],
    meaning: 'an agent called tools but the policy catalogue defines no approved tool set for it',
  },
  definition_changed: {
    severity: 'info',
    class: 'info',
    rule: 'definition_history',
    controls: ['DE.CM-09'],
    meaning: "the workflow's definition differs from its previous run's (no pin is set)",
  },
  root_span_missing: {
    severity: 'warning',
    class: 'evidence',
    rule: 'root_span',
    controls: ['PR.PS-04', 'RS.AN-07'],
    meaning: 'no root span arrived within runs.max_open_ms; the run was judged on what arrived',
  },
  run_capped: {
    severity: 'warning',
    class: 'evidence',
    rule: 'caps',
    controls: ['PR.PS-04'],
    meaning: 'the run reached a cap (spans per run or open runs) and was judged early',
  },
  declared_result_mismatch: {
    severity: 'warning',
    class: 'evidence',
    rule: 'declared_result',
    controls: ['RS.AN-07'],
    meaning: 'the declared result disagrees with the outcome computed from the change steps',
  },
} as const satisfies Record<string, CodeInfo>;

export type FindingCode = keyof typeof FINDING_CODES;

export function finding(code: FindingCode, message: string, extra: FindingDetails = {}): Finding {
  const info: CodeInfo = FINDING_CODES[code];
  const controls = [...new Set([...info.controls, ...(extra.controls ?? [])])];
  const spanIds = extra.span_ids ?? [];
  return {
    code,
    severity: extra.severity ?? info.severity,
    rule: extra.rule ?? info.rule,
    ...(extra.profile !== undefined ? { profile: extra.profile } : {}),
    ...(extra.field !== undefined ? { field: extra.field } : {}),
    ...(extra.span_id !== undefined || spanIds.length > 0 ? { span_id: extra.span_id ?? spanIds[0]! } : {}),
    ...(spanIds.length > 1 ? { span_ids: spanIds } : {}),
    message,
    controls,
  };
}

export type RunStatus = 'compliant' | 'incomplete' | 'violation';

/** compliant: nothing ≥ warning; violation: any violation-class finding; otherwise incomplete. */
export function statusOf(findings: readonly Finding[]): RunStatus {
  if (findings.some((f) => FINDING_CODES[f.code].class === 'violation' && f.severity !== 'info')) return 'violation';
  if (findings.some((f) => f.severity !== 'info')) return 'incomplete';
  return 'compliant';
}
