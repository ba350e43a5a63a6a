import { celAttributes, compileCel, holds } from '../cel.js';
import { finding, type Finding } from '../findings.js';
import { toStep } from '../steps.js';
import type { Check } from './check.js';

/** The profiles' declarative constraints (CEL over `run`, `steps` and the root's `attributes`). */
export const checkConstraints: Check = ({ profiles, evidence, spanEvidence, root }) => {
  // The context is built only when a profile has constraints: the built-ins have none.
  if (profiles.constraints.length === 0) return [];
  const context = {
    run: evidence,
    steps: spanEvidence.map((e) => {
      const s = toStep(e);
      return { name: s.name, type: s.type, status: s.status, operation: s.evidence['change.operation'] ?? '', target: s.evidence['change.target'] ?? '', succeeded: s.succeeded ?? false };
    }),
    attributes: root === undefined ? {} : celAttributes({ ...root.resource, ...root.attributes }),
  };
  const findings: Finding[] = [];
  for (const c of profiles.constraints) {
    const result = holds(compileCel(c.expression), context);
    if (!result.ok) {
      findings.push(finding('constraint_failed', result.error ? `${c.message} (${result.error})` : c.message, { severity: c.severity, controls: profiles.controls, profile: c.profile }));
    }
  }
  return findings;
};
