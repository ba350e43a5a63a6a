import { finding, type Finding } from '../findings.js';
import type { Check } from './check.js';

/** Every decision names its policy and its result; a check that failed decided nothing and owes no result. */
export const checkDecisionFields: Check = ({ decisions }) => {
  const findings: Finding[] = [];
  for (const d of decisions) {
    if (d.policy === undefined) {
      findings.push(finding('missing_field', `decision "${d.span.name}" has no decision.policy`, { field: 'decision.policy', span_id: d.span.spanId, rule: 'decision_fields' }));
    }
    if (d.result === undefined && !d.failed) {
      findings.push(finding('missing_field', `decision "${d.span.name}" has no decision.result`, { field: 'decision.result', span_id: d.span.spanId, rule: 'decision_fields' }));
    }
  }
  return findings;
};

/** The decision the profiles require: any complete one, or an allow (a denied run that changed nothing owes none). */
export const checkRequiredDecision: Check = ({ decisions, profiles, changes }) => {
  const required = profiles.decisionRule;
  if (required === undefined) return [];
  if (required.rule === 'any' && !decisions.some((d) => d.complete)) {
    return [finding('missing_decision', 'no policy decision with a policy id and a result was recorded', { field: 'decision.policy', profile: required.profile })];
  }
  const deniedBeforeActing = decisions.some((d) => d.denies) && changes.attempts.length === 0;
  if (required.rule === 'allow' && !decisions.some((d) => d.allows) && !deniedBeforeActing) {
    return [finding('missing_decision', 'no allow decision was recorded', { field: 'decision.result', profile: required.profile, controls: profiles.controls })];
  }
  return [];
};
