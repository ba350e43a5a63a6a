import { describe, expect, it } from 'vitest';
import { parseCatalogue } from '../enrich/catalogue.js';
import { parseInventory } from '../enrich/inventory.js';
import { RunIdentity } from '../runs/run-identity.js';
import { evaluateRun, type Enrichment, type RunVerdict } from './evaluate.js';
import { resolveFieldKeys, runIdentityKeys } from './fields.js';
import { FINDING_CODES, finding, statusOf, type Finding, type FindingCode } from './findings.js';
import { BUILT_IN_PROFILES, profileSchema, resolveProfiles, type Profile } from './profiles.js';
import type { RunHistory, RunInput } from './run-input.js';
import { EvidenceReader } from './steps.js';
import { GRANT_EXPIRES_AT, runSpan as span, workflowRun as run, type ChildSpec as Child } from '../../test/support/run-spans.js';

// DESIGN §5: OWASP NHI Top 10 (2025) `NHI1`..`NHI10`, and the NIST CSF 2.0 subcategories it names.
const OWASP_NHI = /^NHI([1-9]|10)$/;
const CSF_SHAPE = /^(GV|ID|PR|DE|RS|RC)\.[A-Z]{2}-\d{2}$/;
const DESIGN_CSF = new Set(['PR.PS-04', 'DE.CM-03', 'DE.CM-09', 'PR.AA-01', 'PR.AA-05', 'RS.AN-06', 'RS.AN-07']);
const isKnownControl = (id: string) => OWASP_NHI.test(id) || (CSF_SHAPE.test(id) && DESIGN_CSF.has(id));

const ALL_CODES = Object.keys(FINDING_CODES) as FindingCode[];

describe('finding codes', () => {
  it('gives every code a severity, a class, a meaning and at least one known control, each once', () => {
    for (const code of ALL_CODES) {
      const info = FINDING_CODES[code];
      expect(['info', 'warning', 'error', 'critical'], code).toContain(info.severity);
      expect(['evidence', 'violation', 'info'], code).toContain(info.class);
      expect(info.meaning.length, code).toBeGreaterThan(0);
      expect(info.controls.length, code).toBeGreaterThan(0);
      expect(new Set(info.controls).size, `${code} lists a control twice`).toBe(info.controls.length);
      for (const control of info.controls) expect(isKnownControl(control), `${code}: ${control}`).toBe(true);
    }
  });

  it('refuses control ids outside NHI1..NHI10 and the CSF subcategories DESIGN names', () => {
    // Guards the check above: it must be able to fail.
    for (const id of ['NHI0', 'NHI11', 'nhi5', 'NHI05', 'PR.AA-5', 'PR.AA-02', 'XX.AA-01', 'NIST PR.AA-01', 'OWASP NHI7', '']) {
      expect(isKnownControl(id), id).toBe(false);
    }
    for (const id of ['NHI1', 'NHI10', ...DESIGN_CSF]) expect(isKnownControl(id), id).toBe(true);
  });

  it('keeps the controls of the codes auditors rely on most', () => {
    const pinned: Partial<Record<FindingCode, readonly string[]>> = {
      replayed_trigger: ['NHI4', 'DE.CM-09', 'PR.AA-05'],
      reused_approval: ['NHI5', 'PR.AA-05', 'DE.CM-03'],
      ungated_change: ['NHI5', 'PR.AA-05'],
      partial_change: ['PR.AA-01', 'PR.PS-04'],
      tool_outside_boundary: ['NHI5', 'PR.AA-05'],
      missing_decision: ['PR.AA-05', 'PR.PS-04'],
      run_capped: ['PR.PS-04'],
      root_span_missing: ['PR.PS-04', 'RS.AN-07'],
    };
    for (const [code, controls] of Object.entries(pinned)) expect(FINDING_CODES[code as FindingCode].controls, code).toEqual(controls);
  });

  it('has exactly the codes and severities the README documents', () => {
    // README "Evidence", the table of codes.
    expect(Object.fromEntries(ALL_CODES.map((code) => [code, FINDING_CODES[code].severity]))).toEqual({
      missing_field: 'warning',
      invalid_field: 'warning',
      missing_decision: 'warning',
      missing_change: 'warning',
      partial_change: 'error',
      declared_result_mismatch: 'warning',
      replayed_trigger: 'critical',
      reused_approval: 'critical',
      ungated_change: 'critical',
      change_after_deny: 'critical',
      grant_duration_exceeded: 'critical',
      unregistered_identity: 'critical',
      tool_outside_boundary: 'critical',
      agent_boundary_missing: 'warning',
      unknown_policy: 'warning',
      policy_revision_mismatch: 'warning',
      definition_drift: 'critical',
      definition_changed: 'info',
      root_span_missing: 'warning',
      run_capped: 'warning',
      constraint_failed: 'warning',
    });
  });

  it('makes a run a violation for exactly the codes the README calls wrong', () => {
    const violations = ALL_CODES.filter((code) => FINDING_CODES[code].class === 'violation').sort();
    expect(violations).toEqual([
      'change_after_deny',
      'definition_drift',
      'grant_duration_exceeded',
      'replayed_trigger',
      'reused_approval',
      'tool_outside_boundary',
      'ungated_change',
      'unregistered_identity',
    ]);
    for (const code of ALL_CODES) {
      const expected = violations.includes(code) ? 'violation' : FINDING_CODES[code].severity === 'info' ? 'compliant' : 'incomplete';
      expect(statusOf([finding(code, 'x')]), code).toBe(expected);
    }
  });

  it('gives the built-in profiles only known controls', () => {
    for (const [name, profile] of Object.entries(BUILT_IN_PROFILES)) {
      for (const control of profile.controls ?? []) expect(isKnownControl(control), `${name}: ${control}`).toBe(true);
    }
  });
});

describe('finding()', () => {
  it("carries the code's controls, then extra ones it does not already have", () => {
    expect(finding('partial_change', 'm').controls).toEqual(['PR.AA-01', 'PR.PS-04']);
    expect(finding('partial_change', 'm', { controls: ['NHI7', 'PR.AA-01'] }).controls).toEqual(['PR.AA-01', 'PR.PS-04', 'NHI7']);
    expect(finding('run_capped', 'm', { controls: [] }).controls).toEqual(['PR.PS-04']);
  });

  it('does not share the control list of the code table', () => {
    const f = finding('run_capped', 'm');
    expect(f.controls).not.toBe(FINDING_CODES.run_capped.controls);
  });
});

// --- findings as evaluateRun produces them -------------------------------------------------------

const keys = resolveFieldKeys({});
const noHistory: RunHistory = { runWithTrigger: () => undefined, runWithDecision: () => undefined, lastDefinition: () => undefined };


const allow = (id = 'd-1'): Child => ['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow', 'nhi.policy.decision_id': id }];
const deny: Child = ['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'deny' }];
const change = (operation: string, target: string, error = false): Child => [operation, { 'nhi.change.operation': operation, 'nhi.change.target': target }, { error }];

function judge(
  input: Omit<RunInput, 'runKey'>,
  options: { history?: RunHistory; enrichment?: Enrichment; profiles?: ReadonlyMap<string, Profile> } = {},
): RunVerdict {
  return evaluateRun(
    { runKey: 'run-1', ...input },
    {
      reader: new EvidenceReader(keys),
      profiles: options.profiles ?? resolveProfiles({}),
      identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)),
      history: options.history ?? noHistory,
      ...(options.enrichment ? { enrichment: options.enrichment } : {}),
    },
  );
}

const one = (v: RunVerdict, code: FindingCode): Finding => {
  const found = v.findings.filter((f) => f.code === code);
  expect(found, `${code} in ${v.findings.map((f) => f.code).join(', ')}`).toHaveLength(1);
  return found[0]!;
};

const EXPIRES = { 'nhi.requester.id': 'alice', 'nhi.grant.expires_at': GRANT_EXPIRES_AT };
const replayEverything: RunHistory = { runWithTrigger: () => 'run-0', runWithDecision: () => 'run-0', lastDefinition: () => undefined };
/** Free text, as catalogue files carry them ("NIST PR.AA-01"): passed through verbatim. */
const CATALOGUE_CONTROLS = ['NIST PR.AA-01', 'OWASP NHI7'];
const catalogue = parseCatalogue(
  {
    policies: [{ id: 'p', revision: '3', owner: 'sec', controls: CATALOGUE_CONTROLS }],
    agents: [{ agent_id: 'sa-1', approved_tools: ['search'] }],
    workflows: [{ name: 'wf', pinned_definition: 'sha256:pinned' }],
  },
  { source: 'catalogue.yaml', revision: 'c1' },
);
const inventory = parseInventory({ identities: [{ id: 'sa-other', type: 'service_account', owner: 'o', team: 't', tier: 'standard' }] }, { source: 'inventory.yaml', revision: 'i1' });
const customProfiles = resolveProfiles({
  cert_renewal: profileSchema.parse({ constraints: [{ expression: 'false', message: 'never holds' }], controls: ['NHI7', 'PR.PS-04'] }),
});

/**
 * Runs that between them produce every finding code, each with the controls of the profiles it was
 * judged against (copied from profiles.ts, so a change there shows here too).
 */
const SCENARIOS: ReadonlyArray<{ name: string; profileControls: readonly string[]; verdict: () => RunVerdict }> = [
  {
    name: 'a bare default run, capped and without a root',
    profileControls: [],
    verdict: () => judge({ spans: [span('c', { 'nhi.workflow.run.id': 'run-1' })], capped: 'max_spans_per_run', rootMissing: true }),
  },
  {
    name: 'a replayed rotation whose revoke failed',
    profileControls: ['NHI7', 'PR.AA-01'],
    verdict: () =>
      judge(
        {
          spans: run('secret_rotation', [allow(), change('create', 'v2'), change('distribute', 'app'), change('revoke', 'v1', true), change('verify', 'app')], {
            'cloudevents.event_source': 'src',
            'cloudevents.event_id': 'evt-1',
          }),
        },
        { history: replayEverything },
      ),
  },
  {
    name: 'a JIT grant behind a deny',
    profileControls: ['NHI5', 'PR.AA-05'],
    verdict: () => judge({ spans: run('jit_access', [deny, change('grant', 'role/admin')], { 'nhi.requester.id': 'alice' }) }),
  },
  {
    name: 'an agent task against the inventory and the catalogue',
    profileControls: ['NHI5', 'PR.AA-05'],
    verdict: () =>
      judge(
        {
          spans: run(
            'agent_task',
            [
              ['policy', { 'nhi.policy.id': 'p', 'nhi.policy.decision': 'allow', 'nhi.policy.revision': '2' }],
              ['policy', { 'nhi.policy.id': 'ghost', 'nhi.policy.decision': 'allow' }],
              ['execute_tool', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'delete_all' }],
            ],
            { 'nhi.actor.type': 'service_account', 'nhi.workflow.definition.hash': 'sha256:other' },
          ),
        },
        { enrichment: { inventory, catalogue } },
      ),
  },
  {
    name: 'an agent the catalogue has no tools for, and a definition that changed',
    profileControls: [],
    verdict: () =>
      judge(
        { spans: run(undefined, [allow(), ['execute_tool', { 'gen_ai.tool.name': 'search' }]], { 'nhi.actor.id': 'agent-x', 'nhi.workflow.name': 'unpinned', 'nhi.workflow.definition.hash': 'h2' }) },
        { enrichment: { catalogue }, history: { ...noHistory, lastDefinition: () => ({ definition: 'h1', runKey: 'run-0' }) } },
      ),
  },
  {
    name: 'a custom profile whose constraint fails',
    profileControls: ['NHI7', 'PR.PS-04'],
    verdict: () => judge({ spans: run('cert_renewal', [allow(), change('create', 'cert')]) }, { profiles: customProfiles }),
  },
  {
    name: 'a JIT grant for a year',
    profileControls: ['NHI5', 'PR.AA-05'],
    verdict: () => judge({ spans: run('jit_access', [allow(), change('grant', 'role/admin')], { 'nhi.requester.id': 'alice', 'nhi.grant.expires_at': '2026-11-24T16:00:00Z' }) }),
  },
];

/** Codes whose findings add the controls of the profiles the run was judged against (evaluate.ts). */
const PROFILE_SCOPED = new Set<FindingCode>(['partial_change', 'ungated_change', 'constraint_failed']);

/** The rule evaluate.ts composes controls by: the code's, then (deduplicated) what the finding adds. */
function expectedControls(f: Finding, profileControls: readonly string[]): string[] {
  let added: readonly string[] = [];
  if (PROFILE_SCOPED.has(f.code)) added = profileControls;
  // Only the "allow" rule's missing_decision (it names decision.result) adds the profile's controls.
  if (f.code === 'missing_decision' && f.field === 'decision.result') added = profileControls;
  if (f.code === 'policy_revision_mismatch') added = CATALOGUE_CONTROLS;
  return [...new Set([...FINDING_CODES[f.code].controls, ...added])];
}

describe('controls of the findings evaluateRun produces', () => {
  it('covers every finding code with the scenarios below', () => {
    const produced = new Set(SCENARIOS.flatMap((s) => s.verdict().findings.map((f) => f.code)));
    expect([...produced].sort()).toEqual([...ALL_CODES].sort());
  });

  it.each(SCENARIOS.map((s) => [s.name, s] as const))("gives each finding of %s its code's controls, plus the profile's where the code adds them", (_name, scenario) => {
    const v = scenario.verdict();
    expect(v.findings.length).toBeGreaterThan(0);
    for (const f of v.findings) expect(f.controls, `${f.code}: ${f.message}`).toEqual(expectedControls(f, scenario.profileControls));
  });

  it("adds a rotation's controls to its partial_change but not to its replayed_trigger or reused_approval", () => {
    const v = SCENARIOS[1]!.verdict();
    expect(one(v, 'partial_change').controls).toEqual(['PR.AA-01', 'PR.PS-04', 'NHI7']);
    expect(one(v, 'replayed_trigger').controls).toEqual(['NHI4', 'DE.CM-09', 'PR.AA-05']);
    expect(one(v, 'reused_approval').controls).toEqual(['NHI5', 'PR.AA-05', 'DE.CM-03']);
    expect(one(v, 'declared_result_mismatch').controls).toEqual(['RS.AN-07']);
  });

  it("adds a deprovisioning's controls to the partial_change of a verify that shows active credentials", () => {
    const v = judge({
      spans: run('deprovisioning', [allow(), change('disable', 'sa-9'), change('revoke', 'key-1'), ['verify', { 'nhi.change.operation': 'verify', 'nhi.change.target': 'sa-9', 'nhi.credentials.active': 1 }]]),
    });
    expect(one(v, 'partial_change').controls).toEqual(['PR.AA-01', 'PR.PS-04', 'NHI1']);
  });

  it("adds JIT's controls to a missing allow decision, but not to a missing decision of the default profile", () => {
    const jit = judge({ spans: run('jit_access', [deny, change('grant', 'role/admin')], EXPIRES) });
    expect(one(jit, 'missing_decision').controls).toEqual(['PR.AA-05', 'PR.PS-04', 'NHI5']);
    expect(one(jit, 'ungated_change').controls).toEqual(['NHI5', 'PR.AA-05']);
    const plain = judge({ spans: run(undefined, [change('grant', 'role/x')]) });
    expect(one(plain, 'missing_decision').controls).toEqual(['PR.AA-05', 'PR.PS-04']);
    // A rotation asks for a decision only through default ("any"): its controls do not reach that finding.
    const rotation = judge({ spans: run('secret_rotation', [change('create', 'v2'), change('distribute', 'app'), change('revoke', 'v1'), change('verify', 'app')]) });
    expect(one(rotation, 'missing_decision').controls).toEqual(['PR.AA-05', 'PR.PS-04']);
  });

  it('keeps run_capped, root_span_missing and tool_outside_boundary to their own controls whatever the profile', () => {
    const capped = judge({ spans: run('secret_rotation', []), capped: 'max_open_runs', rootMissing: true });
    expect(one(capped, 'run_capped').controls).toEqual(['PR.PS-04']);
    expect(one(capped, 'root_span_missing').controls).toEqual(['PR.PS-04', 'RS.AN-07']);
    const agent = SCENARIOS[3]!.verdict();
    expect(one(agent, 'tool_outside_boundary').controls).toEqual(['NHI5', 'PR.AA-05']);
    expect(one(agent, 'unregistered_identity').controls).toEqual(['NHI1', 'PR.AA-01', 'DE.CM-03']);
    expect(one(agent, 'definition_drift').controls).toEqual(['DE.CM-09', 'PR.PS-04']);
  });

  it("appends the catalogue's controls of a policy, verbatim, to its revision mismatch", () => {
    const v = SCENARIOS[3]!.verdict();
    expect(one(v, 'policy_revision_mismatch').controls).toEqual(['PR.AA-05', 'DE.CM-09', 'NIST PR.AA-01', 'OWASP NHI7']);
    expect(one(v, 'unknown_policy').controls).toEqual(['PR.AA-05', 'PR.PS-04']);
  });
});
