import { finding, type Finding } from '../findings.js';
import type { Check } from './check.js';

/** A trigger event starts one run, and a decision id authorises one run; retries inside a run are not replays. */
export const checkReplay: Check = ({ input, evidence, triggerEvent, decisions, history, startNs }) => {
  const findings: Finding[] = [];
  if (triggerEvent !== null) {
    const other = history.runWithTrigger(triggerEvent, input.runKey, startNs);
    if (other !== undefined) {
      const source = evidence['trigger.event_source'];
      const event = source === undefined ? `${evidence['trigger.event_id']}` : `${source}/${evidence['trigger.event_id']}`;
      findings.push(finding('replayed_trigger', `trigger event ${event} already started run ${other}`, { field: 'trigger.event_id' }));
    }
  }
  for (const id of decisionIds(decisions)) {
    const other = history.runWithDecision(id, input.runKey, startNs);
    if (other !== undefined) {
      const spanIds = decisions.filter((d) => d.id === id).map((d) => d.span.spanId);
      findings.push(finding('reused_approval', `decision ${id} already authorised run ${other}`, { field: 'decision.id', span_ids: spanIds }));
    }
  }
  return findings;
};

/** The decision ids a run used, each once, in history order: the keys it claims. */
export function decisionIds(decisions: ReadonlyArray<{ readonly id: string | undefined }>): string[] {
  return [...new Set(decisions.map((d) => d.id).filter((id): id is string => id !== undefined))];
}
