import type { FieldName } from './fields.js';
import type { ChangeRequirement, Profile } from './profiles.js';

/** The profiles a run is judged against, default first, and what they ask of it together. */
export interface AppliedProfiles {
  readonly names: readonly string[];
  readonly profiles: readonly Profile[];
  /** Control references added to the profiles' step findings. */
  readonly controls: readonly string[];
  readonly requiredFields: ReadonlySet<FieldName>;
  /** Fields required once a change succeeded. */
  readonly actedFields: ReadonlySet<FieldName>;
  readonly requiredChanges: readonly ChangeRequirement[];
  readonly constraints: ReadonlyArray<Profile['constraints'][number]>;
}

/**
 * Combined once per profile set and kind: a handful of combinations judge every run, and combining
 * them for each run cost more than several of the checks.
 */
const combined = new WeakMap<ReadonlyMap<string, Profile>, Map<string, AppliedProfiles>>();

/** The default profile, and the profile of the run's kind when there is one. */
export function appliedProfiles(all: ReadonlyMap<string, Profile>, kind: string | undefined): AppliedProfiles {
  const own = kind !== undefined && kind !== 'default' && all.has(kind) ? kind : undefined;
  let byKind = combined.get(all);
  if (byKind === undefined) {
    byKind = new Map();
    combined.set(all, byKind);
  }
  let applied = byKind.get(own ?? 'default');
  if (applied === undefined) {
    applied = combine(own === undefined ? ['default'] : ['default', own], all);
    byKind.set(own ?? 'default', applied);
  }
  return applied;
}

function combine(names: string[], all: ReadonlyMap<string, Profile>): AppliedProfiles {
  const profiles = names.map((name) => all.get(name)!);
  return {
    // Shared by every verdict of this combination.
    names: Object.freeze(names),
    profiles,
    controls: profiles.flatMap((p) => p.controls),
    requiredFields: new Set(profiles.flatMap((p) => p.required_fields)),
    actedFields: new Set(profiles.flatMap((p) => p.required_fields_if_acted)),
    requiredChanges: profiles.flatMap((p) => p.required_changes),
    constraints: profiles.flatMap((p) => p.constraints),
  };
}
