/**
 * The rules a run is judged by, each stated once as the README states it. Every finding names the rule
 * it breaks (and, for a profile's requirement, the profile), so a verdict explains itself.
 * Profile rules are named after the profile key that sets them.
 */
export const RULES = {
  // Rules every run obeys, whatever its profile.
  root_span: 'a run has a root span (carrying the run identity, with no parent in the run) within runs.max_open_ms',
  caps: 'a run is judged whole; one judged early by runs.max_spans_per_run or runs.max_open_runs says so',
  decision_fields: 'a decision names its policy and its result; a check that failed decided nothing and owes no result',
  change_fields: 'a change names its target, a tool call its tool',
  outcome: 'the outcome comes from the change steps, the last attempt of each operation and target counting; a change that failed makes the run partial',
  declared_result: 'the declared result agrees with the outcome the change steps show',
  deny_binds:
    'a change must not succeed after a deny decision of its step (a decision under one of its ancestors, started before it) unless a later allow of its step came between',
  grant_expiry: 'grant.expires_at is RFC 3339 or unix nanoseconds, and later than the end of the grant it bounds',
  unique_trigger: 'a trigger event (source and id) starts one run',
  unique_approval: 'a decision id authorises one run (retries inside the run are fine)',
  registered_identity: 'every identity that acts (the run actor and each step actor) is in the NHI inventory, as the type it reports',
  policy_catalogue: 'a decision cites a policy the catalogue lists, at its current revision',
  tool_boundary: 'an agent calls only the tools the catalogue approves for it (the nearest agent above the call)',
  pinned_definition: 'a workflow pinned in the catalogue runs its pinned definition',
  definition_history: "a workflow's definition changing between runs is noted (no pin is set)",
  // Profile rules.
  required_fields: 'the profile names evidence fields every run of its kind carries',
  required_fields_if_acted: 'the profile names evidence fields a run carries once one of its changes succeeded',
  field_values: 'the profile names the values a field may take',
  require_decision: 'the profile requires a decision with a policy id and a result (any) or an allow decision (allow)',
  require_change: 'the profile requires a change step with an operation and a target, unless the run failed before acting',
  required_changes: 'the profile names change operations the run performs, which must succeed and show they took',
  failure_class_on_failure: 'the profile requires a run that did not complete to say why (failure.class)',
  gate_changes_on_allow: 'the profile requires each change to follow an allow decision that started before it and did not fail',
  max_grant_duration_minutes: 'the profile bounds how long a grant may last, from the end of the grant to grant.expires_at',
  constraints: 'the profile states constraints (CEL) the run satisfies',
} as const;

export type RuleId = keyof typeof RULES;
