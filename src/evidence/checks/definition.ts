import { finding } from '../findings.js';
import type { Check } from './check.js';

/** A pinned workflow runs its pinned definition; without a pin, a definition that changed since the previous run is noted. */
export const checkDefinition: Check = ({ evidence, catalogue, history, input, startNs }) => {
  const workflow = evidence['run.workflow'];
  const definition = evidence['run.definition'];
  const pinned = workflow === undefined ? undefined : catalogue?.pinnedDefinition(workflow);
  if (pinned !== undefined) {
    if (definition === undefined) {
      return [finding('missing_field', `workflow ${workflow} is pinned to definition ${pinned} but the run carries none`, { field: 'run.definition', rule: 'pinned_definition' })];
    }
    return definition === pinned ? [] : [finding('definition_drift', `definition ${definition} differs from the pinned ${pinned}`, { field: 'run.definition' })];
  }
  if (workflow === undefined || definition === undefined) return [];
  const previous = history.lastDefinition(workflow, input.runKey, startNs);
  if (previous === undefined || previous.definition === definition) return [];
  return [finding('definition_changed', `definition changed from ${previous.definition} (run ${previous.runKey}) to ${definition}`, { field: 'run.definition' })];
};
