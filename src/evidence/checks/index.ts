import type { Check } from './check.js';
import { checkPolicies, checkToolBoundary } from './catalogue.js';
import { checkConstraints } from './constraints.js';
import { checkDecisionFields, checkRequiredDecision } from './decisions.js';
import { checkDefinition } from './definition.js';
import { checkActedFields, checkRequiredFields } from './fields.js';
import { checkChangesAfterDeny, checkGatedChanges } from './gating.js';
import { checkGrantBounds } from './grants.js';
import { checkIdentities } from './identities.js';
import { checkChangeFields, checkOutcome, checkRequiredChange } from './outcome.js';
import { checkReplay } from './replay.js';
import { checkRunShape } from './run-shape.js';

export type { Check } from './check.js';

/** Every check a run goes through, in the order its findings are listed. */
export const CHECKS: readonly Check[] = [
  checkRunShape,
  checkRequiredFields,
  checkDecisionFields,
  checkChangeFields,
  checkActedFields,
  checkRequiredDecision,
  checkRequiredChange,
  checkOutcome,
  checkGatedChanges,
  checkChangesAfterDeny,
  checkGrantBounds,
  checkReplay,
  checkIdentities,
  checkPolicies,
  checkToolBoundary,
  checkDefinition,
  checkConstraints,
];
