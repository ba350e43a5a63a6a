import { z } from 'zod';

/**
 * Evidence fields (DESIGN §5): abstract facts, each read from an ordered list of attribute keys,
 * span first, then resource. Semantic-convention keys come first, then runledger's `nhi.*` vocabulary.
 */
export const DEFAULT_FIELD_KEYS = {
  'run.id': ['cicd.pipeline.run.id', 'nhi.workflow.run.id'],
  'run.workflow': ['cicd.pipeline.name', 'gen_ai.workflow.name', 'nhi.workflow.name'],
  'run.kind': ['nhi.workflow.kind'],
  'run.definition': ['nhi.workflow.definition.hash'],
  'run.result': ['cicd.pipeline.result', 'nhi.workflow.result'],
  'trigger.kind': ['nhi.trigger.kind'],
  'trigger.event_source': ['cloudevents.event_source'],
  'trigger.event_id': ['cloudevents.event_id', 'nhi.trigger.event_id'],
  'actor.id': ['nhi.actor.id', 'gen_ai.agent.id'],
  'actor.type': ['nhi.actor.type'],
  'actor.authn': ['nhi.actor.authn'],
  'requester.id': ['nhi.requester.id', 'enduser.id', 'user.id'],
  'decision.policy': ['nhi.policy.id', 'security_rule.name'],
  'decision.result': ['nhi.policy.decision'],
  'decision.revision': ['nhi.policy.revision', 'security_rule.version'],
  'decision.id': ['nhi.policy.decision_id'],
  'change.operation': ['nhi.change.operation'],
  'change.target': ['nhi.change.target', 'cloud.resource_id'],
  'grant.expires_at': ['nhi.grant.expires_at'],
  'failure.class': ['error.type'],
  'tool.operation': ['gen_ai.operation.name'],
  'tool.name': ['gen_ai.tool.name'],
  'tool.call_id': ['gen_ai.tool.call.id'],
} as const satisfies Record<string, readonly string[]>;

export type FieldName = keyof typeof DEFAULT_FIELD_KEYS;
export const FIELD_NAMES = Object.keys(DEFAULT_FIELD_KEYS) as FieldName[];

const fieldKeysSchema = z.strictObject({
  keys: z.array(z.string().min(1)).min(1).optional().describe('replaces the default keys'),
  add_keys: z.array(z.string().min(1)).optional().describe('looked up before the default keys'),
});

export const fieldsConfigSchema = z
  .partialRecord(z.enum(FIELD_NAMES as [FieldName, ...FieldName[]]), fieldKeysSchema)
  .default({})
  .describe('per evidence field: { keys: [...] } to replace its attribute keys, { add_keys: [...] } to add yours first');

export type FieldsConfig = z.infer<typeof fieldsConfigSchema>;
export type FieldKeys = Readonly<Record<FieldName, readonly string[]>>;

export function resolveFieldKeys(config: FieldsConfig): FieldKeys {
  const resolved = {} as Record<FieldName, readonly string[]>;
  for (const name of FIELD_NAMES) {
    const override = config[name];
    const base = override?.keys ?? DEFAULT_FIELD_KEYS[name];
    resolved[name] = [...new Set([...(override?.add_keys ?? []), ...base])];
  }
  return Object.freeze(resolved);
}

/** Attribute keys whose presence makes a span part of a workflow run. */
export function runIdentityKeys(keys: FieldKeys): readonly string[] {
  return [...new Set([...keys['run.id'], ...keys['run.workflow'], ...keys['run.kind']])];
}
