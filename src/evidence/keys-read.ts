import { celKeysRead } from './cel.js';
import type { FieldKeys } from './fields.js';
import type { Profile } from './profiles.js';
import type { RunIdentity } from '../runs/run-identity.js';
import type { Recognisers } from './recognisers.js';

/** stepType tells a tool call by this key whatever the tool.name field's keys are. */
export const TOOL_NAME_KEY = 'gen_ai.tool.name';

/**
 * The span attribute keys judging a run reads: the evidence fields' keys, the run identity's, the
 * recognisers' (never their content keys: tool arguments and results), and those the profiles' CEL
 * reads from `attributes`. Undefined when some CEL may read any key. Run
 * history decodes only these from each stored span (decoding them all was its largest cost); every
 * attribute stays in the stored bytes.
 */
export function attributeKeysRead(
  fieldKeys: FieldKeys,
  identity: RunIdentity,
  profiles: ReadonlyMap<string, Profile>,
  recognisers: Recognisers,
): Set<string> | undefined {
  const keys = new Set<string>([...Object.values(fieldKeys).flat(), ...identity.attributeKeys, ...recognisers.attributeKeys, TOOL_NAME_KEY]);
  for (const profile of profiles.values()) {
    const expressions = [...profile.constraints.map((c) => c.expression), ...profile.required_changes.flatMap((r) => r.expect ?? [])];
    for (const expression of expressions) {
      const read = celKeysRead(expression, 'attributes');
      if (read === undefined) return undefined;
      for (const key of read) keys.add(key);
    }
  }
  return keys;
}
