import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../enrich/inventory.js';
import { evaluateRun } from '../evaluate.js';
import { resolveFieldKeys, runIdentityKeys } from '../fields.js';
import { resolveProfiles } from '../profiles.js';
import { EvidenceReader } from '../steps.js';
import { RunIdentity } from '../../runs/run-identity.js';
import { factsOf, workflowRun, type ChildSpec } from '../../../test/support/run-spans.js';
import { checkIdentities } from './identities.js';

const inventory = parseInventory(
  {
    spiffe_trust_domains: ['prod.example.org'],
    identities: [
      { id: 'sa-1', type: 'service_account', owner: 'o', team: 't', tier: 'standard' },
      { id: 'sa:vault/writer', type: 'service_account', owner: 'o', team: 't', tier: 'privileged', keys: ['system:serviceaccount:vault:writer'] },
    ],
  },
  { source: 'inventory.yaml', revision: 'i1' },
);
const enrichment = { inventory };
const step = (name: string, actor: string): ChildSpec => [name, { 'nhi.change.operation': 'distribute', 'nhi.change.target': name, 'nhi.actor.id': actor }];

describe('checkIdentities (registered_identity)', () => {
  it('accepts a step actor the inventory knows by another key form (SPIFFE id of a service account)', () => {
    const spans = workflowRun(undefined, [step('app-a', 'spiffe://prod.example.org/ns/vault/sa/writer')]);
    const facts = factsOf(spans, { enrichment });
    expect(checkIdentities(facts)).toEqual([]);
    expect([...facts.stepActors.values()]).toEqual([{ id: 'sa:vault/writer', reported_id: 'spiffe://prod.example.org/ns/vault/sa/writer', registered: true }]);
  });

  it('flags an unregistered step actor once per identity, naming every step it acted in', () => {
    const spans = workflowRun(undefined, [step('app-a', 'sa:rogue'), step('app-b', 'sa:rogue'), step('app-c', 'sa-1')]);
    const findings = checkIdentities(factsOf(spans, { enrichment }));
    expect(findings).toEqual([
      expect.objectContaining({
        code: 'unregistered_identity',
        rule: 'registered_identity',
        field: 'actor.id',
        span_ids: [spans[1]!.spanId, spans[2]!.spanId],
        message: 'step "app-a" (and 1 more step) acted as sa:rogue, which is not in the NHI inventory (revision i1)',
      }),
    ]);
  });

  it("does not count the run's actor under another key form as a second identity", () => {
    const spans = workflowRun(undefined, [step('app-a', 'system:serviceaccount:vault:writer')], { 'nhi.actor.id': 'sa:vault/writer' });
    const facts = factsOf(spans, { enrichment });
    expect(facts.stepActors.size).toBe(0);
    expect(checkIdentities(facts)).toEqual([]);
  });

  it('shows step actors without judging them when no inventory is configured', () => {
    const facts = factsOf(workflowRun(undefined, [step('app-a', 'sa:rogue')]));
    expect([...facts.stepActors.values()]).toEqual([{ id: 'sa:rogue' }]);
    expect(checkIdentities(facts)).toEqual([]);
  });

  it("flags the run's own actor when it is not registered", () => {
    const findings = checkIdentities(factsOf(workflowRun(undefined, [], { 'nhi.actor.id': 'sa:ghost' }), { enrichment }));
    expect(findings.map((f) => [f.code, f.message])).toEqual([['unregistered_identity', 'actor sa:ghost is not in the NHI inventory (revision i1)']]);
  });

  it("puts each step's resolved actor on the step the verdict shows", () => {
    const keys = resolveFieldKeys({});
    const spans = workflowRun(undefined, [step('app-a', 'spiffe://prod.example.org/ns/vault/sa/writer')]);
    const verdict = evaluateRun(
      { runKey: 'run-1', spans },
      {
        reader: new EvidenceReader(keys),
        profiles: resolveProfiles({}),
        identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)),
        history: { runWithTrigger: () => undefined, runWithDecision: () => undefined, lastDefinition: () => undefined },
        enrichment,
      },
    );
    expect(verdict.steps.map((s) => s.actor)).toEqual([undefined, { id: 'sa:vault/writer', reported_id: 'spiffe://prod.example.org/ns/vault/sa/writer', registered: true }]);
  });
});
