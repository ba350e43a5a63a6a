import { finding, type Finding } from '../findings.js';
import type { Check } from './check.js';

/** A run judged without its root, or early by a cap, says so. */
export const checkRunShape: Check = (run) => {
  const findings: Finding[] = [];
  if (run.root === undefined || run.input.rootMissing === true) {
    findings.push(finding('root_span_missing', 'no root span (a span carrying the run identity with no parent in the run) arrived'));
  }
  if (run.input.capped !== undefined) findings.push(finding('run_capped', run.input.capped));
  return findings;
};
