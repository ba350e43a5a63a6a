import { z } from 'zod';
import { constraintExpressionSchema, expectExpressionSchema } from './cel.js';
import { FIELD_NAMES, type FieldName } from './fields.js';

const fieldNameSchema = z.enum(FIELD_NAMES as [FieldName, ...FieldName[]]);

const changeRequirementSchema = z.strictObject({
  operation: z.string().min(1).describe('nhi.change.operation that must be present'),
  must_succeed: z.boolean().default(true).describe('every attempt of this operation must end without error'),
  /** CEL over the operation's final step: `attributes` (span then resource), `status`, `name`. */
  expect: expectExpressionSchema.optional().describe('CEL that must hold on the last step of this operation'),
  message: z.string().optional().describe('why the expectation matters, shown in the finding'),
});

const constraintSchema = z.strictObject({
  /** CEL over `run` (evidence fields), `steps` and `attributes` of the root span. */
  expression: constraintExpressionSchema,
  message: z.string().min(1),
  severity: z.enum(['info', 'warning', 'error', 'critical']).default('warning'),
});

/** A profile: what a run of one kind must carry. Built-ins are written in this same form. */
export const profileSchema = z.strictObject({
  required_fields: z.array(fieldNameSchema).default([]).describe('evidence fields every run must carry'),
  required_fields_if_acted: z
    .array(fieldNameSchema)
    .default([])
    .describe('evidence fields required once a change step succeeded (e.g. grant.expires_at)'),
  field_values: z
    .partialRecord(fieldNameSchema, z.array(z.string()).min(1))
    .default({})
    .describe('accepted values per field'),
  require_decision: z
    .enum(['none', 'any', 'allow'])
    .default('none')
    .describe('any: at least one decision with policy id and result; allow: at least one allow'),
  require_change: z
    .boolean()
    .default(false)
    .describe('at least one change with operation and target, unless the run failed before acting'),
  required_changes: z.array(changeRequirementSchema).default([]).describe('change operations the run must perform'),
  failure_class_on_failure: z.boolean().default(false).describe('a failed run must carry failure.class'),
  gate_changes_on_allow: z
    .boolean()
    .default(false)
    .describe('a change that succeeds without an allow decision started before it is a violation'),
  max_grant_duration_minutes: z
    .number()
    .positive()
    .nullable()
    .default(null)
    .describe('longest a grant may last, from the end of the grant to grant.expires_at (null: unbounded)'),
  constraints: z.array(constraintSchema).default([]),
  controls: z.array(z.string()).default([]).describe('control references added to this profile\'s step findings'),
});

export type ProfileInput = z.input<typeof profileSchema>;
export type Profile = z.output<typeof profileSchema>;
export type ChangeRequirement = Profile['required_changes'][number];

/** DESIGN §5, written as data. `default` applies to every run; the others by run.kind. */
export const BUILT_IN_PROFILES: Record<string, ProfileInput> = {
  default: {
    required_fields: ['run.workflow', 'run.result', 'trigger.kind', 'actor.id'],
    require_decision: 'any',
    require_change: true,
    failure_class_on_failure: true,
  },
  jit_access: {
    required_fields: ['requester.id'],
    required_fields_if_acted: ['grant.expires_at'],
    require_decision: 'allow',
    required_changes: [{ operation: 'grant' }],
    gate_changes_on_allow: true,
    // A day: JIT access outliving a working day is standing access by another name.
    max_grant_duration_minutes: 24 * 60,
    controls: ['NHI5', 'PR.AA-05'],
  },
  secret_rotation: {
    required_changes: [
      { operation: 'create', message: 'the new secret version must be created' },
      { operation: 'distribute', message: 'the new version must reach its consumers' },
      { operation: 'revoke', message: 'the old version must be revoked, or the rotation left a live secret' },
      { operation: 'verify', message: 'dependents must be verified on the new version' },
    ],
    controls: ['NHI7', 'PR.AA-01'],
  },
  agent_task: {
    required_fields: ['actor.type'],
    field_values: { 'actor.type': ['ai_agent'] },
    controls: ['NHI5', 'PR.AA-05'],
  },
  access_review: {
    failure_class_on_failure: true,
    controls: ['PR.AA-05'],
  },
  deprovisioning: {
    required_changes: [
      { operation: 'disable', message: 'the account must be disabled' },
      { operation: 'revoke', message: 'each credential must be revoked' },
      {
        operation: 'verify',
        expect: '"nhi.credentials.active" in attributes && int(attributes["nhi.credentials.active"]) == 0',
        message: 'the final verification must report no active credentials (nhi.credentials.active == 0)',
      },
    ],
    controls: ['NHI1', 'PR.AA-01'],
  },
};

export const profilesConfigSchema = z
  .record(z.string().regex(/^[a-z][a-z0-9_]*$/, 'profile names are snake_case'), profileSchema)
  .default({})
  .describe('profiles by run.kind: a built-in name overrides it, a new name adds one');

export type ProfilesConfig = z.infer<typeof profilesConfigSchema>;

/** Built-ins overridden or extended by config, all parsed with their defaults. */
export function resolveProfiles(config: ProfilesConfig): ReadonlyMap<string, Profile> {
  const profiles = new Map<string, Profile>();
  for (const [name, input] of Object.entries(BUILT_IN_PROFILES)) profiles.set(name, profileSchema.parse(input));
  for (const [name, profile] of Object.entries(config)) profiles.set(name, profile);
  return profiles;
}
