import { finding, type Finding } from '../findings.js';
import type { ChangeAttempt } from '../changes.js';
import type { DecisionFact, RunFacts } from '../run-facts.js';
import type { Check } from './check.js';

/**
 * A change is gated only by an allow decision that started before it and did not fail: an approval
 * recorded after the change gates nothing. Applies where a profile sets gate_changes_on_allow; every
 * attempt that succeeded is a change, a first success before the approval included.
 */
export const checkGatedChanges: Check = ({ profiles, changes, decisions }) => {
  const profile = profiles.gateChangesOnAllow;
  if (profile === undefined) return [];
  const allows = decisions.filter((d) => d.allows);
  const findings: Finding[] = [];
  for (const change of changes.attempts) {
    if (change.failed || allows.some((d) => startedBefore(d, change))) continue;
    const late = allows.filter((d) => !startedBefore(d, change));
    const why =
      late.length === 0
        ? 'without an allow decision'
        : `before its allow decision: ${late.map((d) => `${d.policy} (span ${d.span.spanId})`).join(', ')} started after it`;
    findings.push(
      finding('ungated_change', `${describe(change)} succeeded ${why}`, {
        span_ids: [change.span.spanId, ...late.map((d) => d.span.spanId)],
        profile,
        controls: profiles.controls,
      }),
    );
  }
  return findings;
};

/**
 * A deny binds in every profile: a change that succeeds after a deny of its step, with no allow of its
 * step between them, is a violation. A decision's step is its parent's subtree: a decision under the
 * root (or with no parent in the run) speaks for the whole run, one inside a step span for that step.
 */
export const checkChangesAfterDeny: Check = (run) => {
  const bindingDecisions = run.decisions.filter((d) => d.allows || d.denies);
  if (!bindingDecisions.some((d) => d.denies)) return [];
  const findings: Finding[] = [];
  for (const change of run.changes.attempts) {
    if (change.failed) continue;
    const ancestors = ancestorIds(run, change);
    let latest: DecisionFact | undefined;
    for (const d of bindingDecisions) {
      if (!startedBefore(d, change) || !inStepOf(run, d, ancestors)) continue;
      if (latest === undefined || d.span.startNs >= latest.span.startNs) latest = d;
    }
    if (latest?.denies !== true) continue;
    findings.push(
      finding('change_after_deny', `${describe(change)} succeeded after ${latest.policy} denied it (span ${latest.span.spanId}), with no allow between them`, {
        span_ids: [change.span.spanId, latest.span.spanId],
      }),
    );
  }
  return findings;
};

function startedBefore(decision: DecisionFact, change: ChangeAttempt): boolean {
  return decision.span.startNs < change.span.startNs;
}

/** The ids of the spans above the change in the run. */
function ancestorIds(run: RunFacts, change: ChangeAttempt): Set<string> {
  const ids = new Set<string>();
  for (let parent = run.parentOf(change.span); parent !== undefined && !ids.has(parent.spanId); parent = run.parentOf(parent)) {
    ids.add(parent.spanId);
  }
  return ids;
}

/** The decision's parent is above the change, or the decision has no parent in the run. */
function inStepOf(run: RunFacts, decision: DecisionFact, changeAncestors: ReadonlySet<string>): boolean {
  const parent = run.parentOf(decision.span);
  return parent === undefined || changeAncestors.has(parent.spanId);
}

function describe(change: ChangeAttempt): string {
  return change.toolCall ? `tool call ${change.target ?? '(no name)'}` : `${change.operation} of ${change.target ?? '(no target)'}`;
}
