import { finding, type Finding } from '../findings.js';
import type { Check } from './check.js';

/**
 * Every identity that acts is in the NHI inventory: the run's actor, as the type it reports, and each
 * step that acts as an identity of its own (one finding per identity, naming its steps).
 */
export const checkIdentities: Check = ({ inventory, actor, actorEntry, evidence, stepActors, spans }) => {
  if (inventory === undefined) return [];
  const findings: Finding[] = [];
  const reported = evidence['actor.id'];
  if (actor.registered === false) {
    findings.push(finding('unregistered_identity', `actor ${reported} is not in the NHI inventory (revision ${inventory.revision})`, { field: 'actor.id' }));
  } else if (actorEntry !== undefined && evidence['actor.type'] !== undefined && evidence['actor.type'] !== actorEntry.type) {
    findings.push(
      finding('invalid_field', `actor.type is "${evidence['actor.type']}" but the inventory registers ${actorEntry.id} as ${actorEntry.type}`, {
        field: 'actor.type',
        rule: 'registered_identity',
      }),
    );
  }
  const unregistered = new Map<string, string[]>();
  for (const [spanId, stepActor] of stepActors) {
    if (stepActor.registered !== false) continue;
    const steps = unregistered.get(stepActor.id) ?? [];
    steps.push(spanId);
    unregistered.set(stepActor.id, steps);
  }
  for (const [id, spanIds] of unregistered) {
    const first = spans.find((s) => s.spanId === spanIds[0])!;
    const more = spanIds.length > 1 ? ` (and ${spanIds.length - 1} more step${spanIds.length > 2 ? 's' : ''})` : '';
    findings.push(
      finding('unregistered_identity', `step "${first.name}"${more} acted as ${id}, which is not in the NHI inventory (revision ${inventory.revision})`, {
        field: 'actor.id',
        span_ids: spanIds,
      }),
    );
  }
  return findings;
};
