import type { FieldName } from './fields.js';
import type { ChangeRequirement, Profile } from './profiles.js';

/** A requirement with the name of the profile that set it, so its finding can say so. */
export type FromProfile<T> = T & { readonly profile: string };

/** The profiles a run is judged against, default first, and what they ask of it together. */
export interface AppliedProfiles {
  readonly names: readonly string[];
  readonly profiles: readonly Profile[];
  /** Control references added to the profiles' step findings. */
  readonly controls: readonly string[];
  /** Required fields, each with the first profile that requires it. */
  readonly requiredFields: ReadonlyMap<FieldName, string>;
  /** Fields required once a change succeeded. */
  readonly actedFields: ReadonlyMap<FieldName, string>;
  readonly fieldValues: ReadonlyArray<FromProfile<{ readonly field: FieldName; readonly accepted: readonly string[] }>>;
  readonly requiredChanges: ReadonlyArray<FromProfile<ChangeRequirement>>;
  readonly constraints: ReadonlyArray<FromProfile<Profile['constraints'][number]>>;
  /** The strictest decision rule, and the profile that sets it (undefined: none). */
  readonly decisionRule: FromProfile<{ readonly rule: 'any' | 'allow' }> | undefined;
  /** The first profile that sets each flag, when one does. */
  readonly requireChange: string | undefined;
  readonly failureClassOnFailure: string | undefined;
  readonly gateChangesOnAllow: string | undefined;
  /** The shortest bound on a grant's duration, and the profile that sets it. */
  readonly maxGrantDuration: FromProfile<{ readonly minutes: number }> | undefined;
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
  const named = names.map((name) => ({ name, profile: all.get(name)! }));
  const firstSetting = (flag: (p: Profile) => boolean) => named.find(({ profile }) => flag(profile))?.name;
  const fieldsOf = (list: (p: Profile) => readonly FieldName[]) => {
    const fields = new Map<FieldName, string>();
    for (const { name, profile } of named) for (const field of list(profile)) if (!fields.has(field)) fields.set(field, name);
    return fields;
  };
  const decisionRule =
    named.find(({ profile }) => profile.require_decision === 'allow') ?? named.find(({ profile }) => profile.require_decision === 'any');
  let maxGrantDuration: AppliedProfiles['maxGrantDuration'];
  for (const { name, profile } of named) {
    const minutes = profile.max_grant_duration_minutes;
    if (minutes !== null && (maxGrantDuration === undefined || minutes < maxGrantDuration.minutes)) maxGrantDuration = { minutes, profile: name };
  }
  return {
    // Shared by every verdict of this combination.
    names: Object.freeze(names),
    profiles: named.map((n) => n.profile),
    controls: named.flatMap((n) => n.profile.controls),
    requiredFields: fieldsOf((p) => p.required_fields),
    actedFields: fieldsOf((p) => p.required_fields_if_acted),
    fieldValues: named.flatMap(({ name, profile }) =>
      (Object.entries(profile.field_values) as Array<[FieldName, string[]]>).map(([field, accepted]) => ({ field, accepted, profile: name })),
    ),
    requiredChanges: named.flatMap(({ name, profile }) => profile.required_changes.map((r) => ({ ...r, profile: name }))),
    constraints: named.flatMap(({ name, profile }) => profile.constraints.map((c) => ({ ...c, profile: name }))),
    decisionRule: decisionRule === undefined ? undefined : { rule: decisionRule.profile.require_decision as 'any' | 'allow', profile: decisionRule.name },
    requireChange: firstSetting((p) => p.require_change),
    failureClassOnFailure: firstSetting((p) => p.failure_class_on_failure),
    gateChangesOnAllow: firstSetting((p) => p.gate_changes_on_allow),
    maxGrantDuration,
  };
}
