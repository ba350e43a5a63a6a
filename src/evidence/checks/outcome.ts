import { finding, type Finding } from '../findings.js';
import type { Check } from './check.js';

/** A change names its target, a tool call its tool. */
export const checkChangeFields: Check = ({ changes }) => {
  const findings: Finding[] = [];
  for (const a of changes.attempts) {
    if (a.target !== undefined) continue;
    const { span } = a;
    findings.push(
      a.toolCall
        ? finding('missing_field', `tool call "${span.name}" has no gen_ai.tool.name`, { field: 'tool.name', span_id: span.spanId, rule: 'change_fields' })
        : finding('missing_field', `change "${a.operation}" (${span.name}) has no target`, { field: 'change.target', span_id: span.spanId, rule: 'change_fields' }),
    );
  }
  return findings;
};

/** The profiles ask for a change and none was recorded (a run that failed before acting owes none). */
export const checkRequiredChange: Check = ({ profiles, changes }) => {
  if (profiles.requireChange === undefined || changes.attempts.length > 0 || changes.failedBeforeActing) return [];
  return [finding('missing_change', 'no change step (nhi.change.operation and a target) was recorded', { field: 'change.operation', profile: profiles.requireChange })];
};

/**
 * What the outcome computed from the change steps says: why a run is partial, that a failed run says
 * why it failed, and whether the declared result agrees.
 */
export const checkOutcome: Check = ({ changes, profiles, evidence, declaredFailure, rootFailed }) => {
  const findings: Finding[] = [];
  const { outcome, attempts } = changes;
  const controls = profiles.controls;
  if (outcome === 'partial') {
    for (const s of changes.shortfalls) {
      findings.push(
        finding('partial_change', s.message, {
          field: 'change.operation',
          controls,
          ...(s.spanId !== undefined ? { span_id: s.spanId } : {}),
          ...(s.requirement !== undefined ? { profile: s.requirement.profile } : { rule: 'outcome' }),
        }),
      );
    }
  }
  const firstRequired = profiles.requiredChanges[0];
  if (outcome === 'failed' && attempts.length > 0 && firstRequired !== undefined && !declaredFailure) {
    findings.push(finding('partial_change', 'no change step succeeded', { field: 'change.operation', controls, profile: firstRequired.profile }));
  }
  // A partial run is explained by its partial_change findings; a failed one must say why it failed.
  const failed = outcome === 'failed' || declaredFailure;
  if (failed && profiles.failureClassOnFailure !== undefined && evidence['failure.class'] === undefined) {
    findings.push(
      finding('missing_field', 'the run did not complete but carries no failure.class (error.type)', {
        field: 'failure.class',
        profile: profiles.failureClassOnFailure,
        rule: 'failure_class_on_failure',
      }),
    );
  }
  const declared = evidence['run.result'];
  // With no change recorded (outcome unknown) there is nothing to disagree with: missing_change says so.
  if ((declared !== undefined || rootFailed) && outcome !== 'unknown') {
    if (!declaredFailure && outcome !== 'complete') {
      findings.push(finding('declared_result_mismatch', `declared "${declared ?? 'ok'}" but the change steps show outcome ${outcome}`, { field: 'run.result' }));
    } else if (declaredFailure && outcome === 'complete' && attempts.length > 0) {
      findings.push(finding('declared_result_mismatch', `declared "${declared ?? 'error'}" but every change step succeeded`, { field: 'run.result', severity: 'info' }));
    }
  }
  return findings;
};
