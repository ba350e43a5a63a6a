import type { ActorView } from '../../src/evidence/evaluate.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { metricValue } from '../support/metrics.js';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { MAIN, startRunledger, waitForLog, type RunledgerProcess } from '../support/runledger-process.js';
import { listRuns, runledgerCli, showRun, waitForRuns, type CliResult, type FindingView, type RunView, type StepView } from '../support/runs-cli.js';
import {
  change,
  decision,
  emitRun,
  newRunId,
  toolCall,
  workflowRoot,
  type EmittedRun,
  type RunFields,
  type StepSpec,
} from '../support/workflows.js';
import { PATIENCE_MS } from '../support/patience.js';

/**
 * README "Enrichment": the NHI inventory, the policy catalogue (policy revisions, agents' approved
 * tools, pinned definitions) and the sidecar's pod identity, end to end. Runs are emitted with the
 * OpenTelemetry SDK over OTLP/gRPC to a real `serve` process, and read back over the HTTP API and CLI.
 * One process judges fixed reference files (with pod identity from K8S_* variables); another has its
 * files edited while it serves; a few more are started with a broken file and must refuse to start.
 */

const SETTLE_MS = 200;
const RELOAD_SECONDS = 0.2;

/** The revision runledger records for a reference file: first 16 hex digits of the SHA-256 of its bytes. */
const revisionOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The actor as the run record carries it once the inventory enriched it. */
type ActorRecord = ActorView;

interface PolicyRecord {
  readonly revision: string;
  readonly owner: string;
  readonly controls: readonly string[];
}

/** A run as `GET /api/v1/runs/ID` answers (the fields these tests read). */
interface RunRecord extends Omit<RunView, 'actor' | 'steps'> {
  readonly actor: ActorRecord;
  readonly definition: string | null;
  readonly reference: { readonly inventory: string | null; readonly catalogue: string | null };
  readonly findings: readonly FindingView[];
  readonly steps: ReadonlyArray<StepView & { readonly policy?: PolicyRecord }>;
}

interface BundleSpan {
  readonly span_id: string;
  readonly name: string;
  readonly resource: Readonly<Record<string, unknown>>;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${body}`);
  return JSON.parse(body) as T;
}

const getRun = (p: RunledgerProcess, runId: string, revision?: number): Promise<RunRecord> =>
  getJson<RunRecord>(`${p.httpUrl}/api/v1/runs/${encodeURIComponent(runId)}${revision === undefined ? '' : `?revision=${revision}`}`);

/** Finding codes of a run, sorted. */
const codes = (run: RunRecord): string[] => run.findings.map((f) => f.code).sort();

/** Polls until `check` returns true, or fails naming `what`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const reloads = (p: RunledgerProcess, file: 'identities' | 'policies', result: 'loaded' | 'failed'): Promise<number> =>
  metricValue(p.httpUrl, 'runledger_reference_reloads_total', { file, result });

/** Emits one run, flushes it to runledger and waits until it is judged; returns what was emitted. */
async function emitAndJudge(p: RunledgerProcess, sender: OtelSender, root: StepSpec, runId: string): Promise<EmittedRun> {
  const emitted = emitRun(sender.tracer, root);
  await sender.flush();
  await waitForRuns(p.dbPath, [runId]);
  return emitted;
}

// ---------------------------------------------------------------------------------------------------
// Reference data of the fixed-file process.

const INVENTORY = {
  spiffe_trust_domains: ['prod.example.org'],
  identities: [
    {
      // Listed only by its Kubernetes name: the SPIFFE id in prod.example.org must resolve to it.
      id: 'sa:iam/deprovisioner',
      type: 'service_account',
      owner: 'iam-oncall@example.org',
      team: 'identity-platform',
      tier: 'critical',
      keys: ['system:serviceaccount:iam:deprovisioner'],
    },
    {
      // An IAM role with a path: its STS sessions (assumed-role/jit-access-broker/*) must resolve to it.
      id: 'aws:jit-access-broker',
      type: 'service_account',
      owner: 'security@example.org',
      team: 'identity-platform',
      tier: 'privileged',
      keys: ['arn:aws:iam::123456789012:role/automation/jit-access-broker'],
    },
    {
      id: 'sa:payments/secret-rotator',
      type: 'service_account',
      owner: 'alice@example.org',
      team: 'payments-platform',
      tier: 'standard',
      keys: ['system:serviceaccount:payments:secret-rotator'],
    },
    {
      id: 'agent:support-triage',
      type: 'ai_agent',
      owner: 'dana@example.org',
      team: 'customer-support-tools',
      tier: 'standard',
      keys: ['support-triage-v3'],
    },
    {
      // The agent the triage agent hands off to: it acts in the handoff run, so it must be registered.
      id: 'agent:billing-refunds',
      type: 'ai_agent',
      owner: 'dana@example.org',
      team: 'customer-support-tools',
      tier: 'privileged',
      keys: [],
    },
    {
      // Registered, but the catalogue gives it no approved tool set.
      id: 'agent:shadow-helper',
      type: 'ai_agent',
      owner: 'erin@example.org',
      team: 'cloud-platform',
      tier: 'standard',
      keys: [],
    },
  ],
};

const PINNED_WORKFLOW = 'e2e-enrich-rotate-db-password';
const PINNED_DEFINITION = 'sha256:4f2a9c1e7b3d5a6f8e0c2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f2a';

const CATALOGUE = {
  policies: [
    { id: 'nhi-deprovisioning', revision: '3', owner: 'iam-oncall@example.org', controls: ['NHI1', 'PR.AA-01'] },
    { id: 'secret-rotation', revision: '7', owner: 'security@example.org', controls: ['NHI7', 'PR.AA-01'] },
    { id: 'agent-tool-boundary', revision: '2', owner: 'ai-governance@example.org', controls: ['NHI5', 'PR.AA-05'] },
  ],
  agents: [
    { agent_id: 'agent:support-triage', approved_tools: ['search_tickets', 'summarize', 'create_comment'] },
    { agent_id: 'agent:billing-refunds', approved_tools: ['issue_refund'] },
  ],
  workflows: [{ name: PINNED_WORKFLOW, pinned_definition: PINNED_DEFINITION }],
};

const POD_ENV = {
  K8S_POD_NAME: 'runledger-7d9f8-x2k4p',
  K8S_POD_UID: '3f1c2a9e-5b7d-4e60-9a1b-2c3d4e5f6a7b',
  K8S_NAMESPACE: 'nhi-audit',
  K8S_NODE_NAME: 'node-eu-west-1a-17',
  K8S_SERVICE_ACCOUNT: 'runledger',
};

/** Default-profile fields every scenario shares; each run gets its own id. */
const fields = (label: string, over: RunFields = {}): RunFields => ({
  runId: newRunId(`enrich-${label}`),
  workflow: `e2e-enrich-${label}`,
  result: 'success',
  triggerKind: 'schedule',
  ...over,
});

const withRevision = (revision: string) => ({ attributes: { 'nhi.policy.revision': revision } });

interface Scenario {
  readonly fields: RunFields;
  readonly steps: readonly StepSpec[];
  readonly definition?: string;
  /** Emitted by the sender whose resource sets its own k8s.namespace.name. */
  readonly tenant?: true;
}

const scenarios = {
  spiffe: {
    fields: fields('spiffe', { actorId: 'spiffe://prod.example.org/ns/iam/sa/deprovisioner' }),
    steps: [decision('nhi-deprovisioning', 'allow', withRevision('3')), change('disable', 'okta:user/00u42')],
  },
  assumedRole: {
    fields: fields('assumed-role', {
      actorId: 'arn:aws:sts::123456789012:assumed-role/jit-access-broker/session-7f3a',
      actorType: 'service_account',
      actorAuthn: 'aws_sts',
    }),
    steps: [decision('secret-rotation', 'allow', withRevision('7')), change('rotate', 'aws:secretsmanager/db')],
  },
  canonical: {
    fields: fields('canonical', { actorId: 'sa:payments/secret-rotator', actorType: 'service_account' }),
    steps: [decision('secret-rotation', 'allow', withRevision('7')), change('rotate', 'vault:kv/payments-db')],
    tenant: true,
  },
  unregistered: {
    fields: fields('unregistered', { actorId: 'system:serviceaccount:payments:rogue-job', actorType: 'service_account' }),
    steps: [decision('secret-rotation', 'allow', withRevision('7')), change('rotate', 'vault:kv/payments-db')],
  },
  agentInside: {
    fields: fields('agent-inside', { kind: 'agent_task', actorId: 'support-triage-v3', actorType: 'ai_agent' }),
    steps: [decision('agent-tool-boundary', 'allow', withRevision('2')), toolCall('search_tickets'), toolCall('summarize')],
  },
  agentOutside: {
    fields: fields('agent-outside', { kind: 'agent_task', actorId: 'support-triage-v3', actorType: 'ai_agent' }),
    steps: [decision('agent-tool-boundary', 'allow', withRevision('2')), toolCall('search_tickets'), toolCall('delete_customer')],
  },
  agentUnbounded: {
    fields: fields('agent-unbounded', { kind: 'agent_task', actorId: 'agent:shadow-helper', actorType: 'ai_agent' }),
    steps: [decision('agent-tool-boundary', 'allow', withRevision('2')), toolCall('search_tickets')],
  },
  agentHandoff: {
    // The triage agent hands the ticket to the refunds agent (GenAI conventions: an invoke_agent span
    // naming the agent it invokes), whose tool calls are judged against its own approved tools.
    fields: fields('agent-handoff', { kind: 'agent_task', actorId: 'support-triage-v3', actorType: 'ai_agent' }),
    steps: [
      decision('agent-tool-boundary', 'allow', withRevision('2')),
      toolCall('search_tickets'),
      {
        name: 'invoke_agent billing-refunds',
        attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'agent:billing-refunds', 'gen_ai.agent.name': 'billing-refunds' },
        children: [toolCall('issue_refund'), toolCall('summarize')],
      },
    ],
  },
  staleRevision: {
    fields: fields('stale-revision', { actorId: 'sa:payments/secret-rotator' }),
    steps: [decision('secret-rotation', 'allow', withRevision('6')), change('rotate', 'vault:kv/payments-db')],
  },
  unknownPolicy: {
    fields: fields('unknown-policy', { actorId: 'sa:payments/secret-rotator' }),
    steps: [decision('no-such-policy', 'allow', withRevision('1')), change('rotate', 'vault:kv/payments-db')],
  },
  pinnedDrift: {
    fields: fields('pinned-drift', { workflow: PINNED_WORKFLOW, actorId: 'sa:payments/secret-rotator' }),
    steps: [decision('secret-rotation', 'allow', withRevision('7')), change('rotate', 'rds:payments-db')],
    definition: 'sha256:0000000000000000000000000000000000000000000000000000000000000bad',
  },
  pinnedMatch: {
    fields: fields('pinned-match', { workflow: PINNED_WORKFLOW, actorId: 'sa:payments/secret-rotator' }),
    steps: [decision('secret-rotation', 'allow', withRevision('7')), change('rotate', 'rds:payments-db')],
    definition: PINNED_DEFINITION,
  },
} satisfies Record<string, Scenario>;

type ScenarioName = keyof typeof scenarios;

const rootOf = (s: Scenario): StepSpec =>
  workflowRoot(s.fields, s.steps, s.definition === undefined ? {} : { attributes: { 'nhi.workflow.definition.hash': s.definition } });

describe('enrichment against a fixed inventory and catalogue, with pod identity', () => {
  let runledger: RunledgerProcess;
  let engine: OtelSender;
  let tenant: OtelSender;
  const emitted = new Map<ScenarioName, EmittedRun>();
  const runs = new Map<ScenarioName, RunRecord>();
  const idOf = (name: ScenarioName): string => scenarios[name].fields.runId!;
  const run = (name: ScenarioName): RunRecord => runs.get(name)!;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-enrich-'));
    writeFileSync(join(dir, 'identities.yaml'), stringify(INVENTORY));
    writeFileSync(join(dir, 'policies.json'), JSON.stringify(CATALOGUE, null, 2));
    runledger = await startRunledger({
      dir,
      env: POD_ENV,
      config: {
        runs: { settle_ms: SETTLE_MS },
        enrich: { identities_file: join(dir, 'identities.yaml'), policies_file: join(dir, 'policies.json') },
      },
    });
    engine = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-enrich-engine' });
    // A sender whose resource already says which namespace it runs in (e.g. set by a k8sattributes processor).
    tenant = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-enrich-tenant', 'k8s.namespace.name': 'tenant-a' });
    for (const [name, scenario] of Object.entries(scenarios) as Array<[ScenarioName, Scenario]>) {
      emitted.set(name, emitRun((scenario.tenant ? tenant : engine).tracer, rootOf(scenario)));
    }
    await Promise.all([engine.flush(), tenant.flush()]);
    const names = Object.keys(scenarios) as ScenarioName[];
    await waitForRuns(runledger.dbPath, names.map(idOf));
    for (const name of names) runs.set(name, await getRun(runledger, idOf(name)));
  });

  afterAll(async () => {
    await Promise.all([engine?.shutdown(), tenant?.shutdown()]);
    await runledger?.stop();
  });

  describe('inventory', () => {
    it('enriches an actor reported by its SPIFFE id (trust domain mapped to the service account): canonical id, owner, team, tier, reported_id', () => {
      const r = run('spiffe');
      expect(r.actor).toEqual({
        id: 'sa:iam/deprovisioner',
        type: 'service_account', // not reported: the inventory's type fills in
        authn: null,
        reported_id: 'spiffe://prod.example.org/ns/iam/sa/deprovisioner',
        registered: true,
        owner: 'iam-oncall@example.org',
        team: 'identity-platform',
        tier: 'critical',
      });
      expect(codes(r)).toEqual([]);
      expect(r.status).toBe('compliant');
    });

    it('enriches an actor reported by an STS assumed-role ARN as the IAM role it assumed', () => {
      const r = run('assumedRole');
      expect(r.actor).toEqual({
        id: 'aws:jit-access-broker',
        type: 'service_account',
        authn: 'aws_sts',
        reported_id: 'arn:aws:sts::123456789012:assumed-role/jit-access-broker/session-7f3a',
        registered: true,
        owner: 'security@example.org',
        team: 'identity-platform',
        tier: 'privileged',
      });
      expect(r.findings).toEqual([]);
      expect(r.status).toBe('compliant');
    });

    it('gives no reported_id when the actor reported its canonical id', () => {
      const r = run('canonical');
      expect(r.actor).toEqual({
        id: 'sa:payments/secret-rotator',
        type: 'service_account',
        authn: null,
        registered: true,
        owner: 'alice@example.org',
        team: 'payments-platform',
        tier: 'standard',
      });
      expect(r.actor).not.toHaveProperty('reported_id');
      expect(r.status).toBe('compliant');
    });

    it('indexes the run under the canonical id, so `actor` queries find it by that id', async () => {
      const page = await getJson<{ runs: Array<{ run_id: string }> }>(`${runledger.httpUrl}/api/v1/runs?actor=${encodeURIComponent('aws:jit-access-broker')}`);
      expect(page.runs.map((r) => r.run_id)).toEqual([idOf('assumedRole')]);
      const listed = await listRuns(runledger.configPath, { actor: 'sa:iam/deprovisioner' });
      expect(listed.map((r) => r.run_id)).toEqual([idOf('spiffe')]);
    });

    it('flags an actor the inventory does not list as unregistered_identity, a violation', async () => {
      const r = run('unregistered');
      expect(r.status).toBe('violation');
      expect(r.actor).toEqual({ id: 'system:serviceaccount:payments:rogue-job', type: 'service_account', authn: null, registered: false });
      expect(r.findings).toEqual([
        expect.objectContaining({ code: 'unregistered_identity', severity: 'critical', field: 'actor.id', message: expect.stringContaining('system:serviceaccount:payments:rogue-job') }),
      ]);
      // The CLI shows the same verdict.
      const shown = await showRun(runledger.configPath, idOf('unregistered'));
      expect(shown).toMatchObject({ status: 'violation', actor: { registered: false } });
    });

    it('records the revisions of both reference files each run was judged against', () => {
      const expected = { inventory: revisionOf(stringify(INVENTORY)), catalogue: revisionOf(JSON.stringify(CATALOGUE, null, 2)) };
      for (const name of Object.keys(scenarios) as ScenarioName[]) expect(run(name).reference, name).toEqual(expected);
    });
  });

  describe('agents and their approved tools', () => {
    it('finds nothing wrong with an agent that called only approved tools', () => {
      const r = run('agentInside');
      expect(r.findings).toEqual([]);
      expect(r).toMatchObject({ status: 'compliant', outcome: 'complete', actor: { id: 'agent:support-triage', registered: true, reported_id: 'support-triage-v3' } });
    });

    it('flags a call outside the approved tools as tool_outside_boundary, naming the tool and its span', () => {
      const r = run('agentOutside');
      expect(r.status).toBe('violation');
      expect(r.findings).toEqual([
        expect.objectContaining({
          code: 'tool_outside_boundary',
          severity: 'critical',
          field: 'tool.name',
          span_id: emitted.get('agentOutside')!.spanId('execute_tool delete_customer'),
          message: expect.stringContaining('delete_customer'),
        }),
      ]);
    });

    it('judges the calls after a handoff against the tools of the agent handed to', () => {
      const r = run('agentHandoff');
      // issue_refund is the refunds agent's tool (not triage's); summarize is triage's tool, not the refunds agent's.
      expect(r.findings).toEqual([
        expect.objectContaining({
          code: 'tool_outside_boundary',
          span_id: emitted.get('agentHandoff')!.spanId('execute_tool summarize'),
          message: 'agent agent:billing-refunds called tool summarize, outside its approved tools',
        }),
      ]);
      expect(r.status).toBe('violation');
    });

    it('flags a registered agent the catalogue gives no tool set as agent_boundary_missing', () => {
      const r = run('agentUnbounded');
      expect(codes(r)).toEqual(['agent_boundary_missing']);
      expect(r.status).toBe('incomplete');
    });
  });

  describe('policy catalogue', () => {
    it('carries the catalogue entry on a decision step that cites the current revision', () => {
      const r = run('spiffe');
      const step = r.steps.find((s) => s.span_id === emitted.get('spiffe')!.spanId('policy nhi-deprovisioning'));
      expect(step).toMatchObject({ type: 'decision', policy: { revision: '3', owner: 'iam-oncall@example.org', controls: ['NHI1', 'PR.AA-01'] } });
    });

    it('flags a decision citing a stale revision as policy_revision_mismatch on the decision span', () => {
      const r = run('staleRevision');
      const span = emitted.get('staleRevision')!.spanId('policy secret-rotation');
      expect(r.findings).toEqual([
        expect.objectContaining({ code: 'policy_revision_mismatch', severity: 'warning', field: 'decision.revision', span_id: span, message: expect.stringMatching(/revision 6\b.*\b7\b/) }),
      ]);
      expect(r.findings[0]!.controls).toEqual(expect.arrayContaining(['NHI7', 'PR.AA-01']));
      expect(r.status).toBe('incomplete');
      expect(r.steps.find((s) => s.span_id === span)?.policy).toEqual({ revision: '7', owner: 'security@example.org', controls: ['NHI7', 'PR.AA-01'] });
    });

    it('flags a decision citing a policy the catalogue does not list as unknown_policy', () => {
      const r = run('unknownPolicy');
      const span = emitted.get('unknownPolicy')!.spanId('policy no-such-policy');
      expect(r.findings).toEqual([
        expect.objectContaining({ code: 'unknown_policy', severity: 'warning', field: 'decision.policy', span_id: span, message: expect.stringContaining('no-such-policy') }),
      ]);
      expect(r.status).toBe('incomplete');
      expect(r.steps.find((s) => s.span_id === span)).not.toHaveProperty('policy');
    });
  });

  describe('workflow definitions', () => {
    it('flags a definition other than the pinned one as definition_drift, a violation', () => {
      const r = run('pinnedDrift');
      expect(r.findings).toEqual([
        expect.objectContaining({ code: 'definition_drift', severity: 'critical', field: 'run.definition', message: expect.stringContaining(PINNED_DEFINITION) }),
      ]);
      expect(r.status).toBe('violation');
    });

    it('accepts the pinned definition', () => {
      const r = run('pinnedMatch');
      expect(r.findings).toEqual([]);
      expect(r).toMatchObject({ status: 'compliant', definition: PINNED_DEFINITION });
    });

    // These three run in order: each run of the unpinned workflow is judged before the next is sent.
    const unpinned = (definition: string): { id: string; root: StepSpec } => {
      const f = fields('unpinned', { workflow: 'e2e-enrich-unpinned-deploy', actorId: 'sa:payments/secret-rotator' });
      return { id: f.runId!, root: rootOf({ fields: f, steps: [decision('secret-rotation', 'allow', withRevision('7')), change('deploy', 'k8s:payments/api')], definition }) };
    };
    const first = unpinned('sha256:1111111111111111');
    const second = unpinned('sha256:2222222222222222');
    let secondEmitted: EmittedRun | undefined;

    it('without a pin, marks a run whose definition differs from the previous run of its workflow definition_changed (info; status unaffected)', async () => {
      await emitAndJudge(runledger, engine, first.root, first.id);
      secondEmitted = await emitAndJudge(runledger, engine, second.root, second.id);

      const a = await getRun(runledger, first.id);
      expect(a.findings).toEqual([]);
      expect(a.status).toBe('compliant');
      const b = await getRun(runledger, second.id);
      expect(b.findings).toEqual([
        expect.objectContaining({
          code: 'definition_changed',
          severity: 'info',
          field: 'run.definition',
          message: expect.stringMatching(/sha256:1111111111111111.*sha256:2222222222222222/),
        }),
      ]);
      expect(b.findings[0]!.message).toContain(first.id);
      expect(b.status).toBe('compliant');
    });

    // Regression guard (fixed bug): src/store/run-store.ts:68 (lastDefinition) + src/evidence/evaluate.ts:325. workflow_definitions
    // keeps one row per workflow, written by the last judged run; re-judging that run excludes its own row
    // (`run_key <> ?`), finds no earlier definition, and revision 2 loses definition_changed (and any run
    // re-judged after a later run of the workflow is compared with that later run, not its predecessor).
    it('keeps definition_changed when the changed run is amended by a late span (revision 2)', async () => {
      expect(secondEmitted, 'the previous test emitted the run').toBeDefined();
      emitRun(engine.tracer, change('verify', 'k8s:payments/api'), { parent: secondEmitted!.rootContext });
      await engine.flush();
      await waitForRuns(runledger.dbPath, [second.id], { minRevision: 2 });
      const amended = await getRun(runledger, second.id);
      expect(amended.revision).toBe(2);
      expect(codes(amended)).toEqual(['definition_changed']);
    });

    it('does not mark a run whose definition is the same as the previous run of its workflow', async () => {
      const third = unpinned('sha256:2222222222222222');
      await emitAndJudge(runledger, engine, third.root, third.id);
      const c = await getRun(runledger, third.id);
      expect(c.findings).toEqual([]);
      expect(c.definition).toBe('sha256:2222222222222222');
    });
  });

  describe('pod identity', () => {
    const bundleSpans = async (name: ScenarioName): Promise<BundleSpan[]> =>
      (await getJson<{ spans: BundleSpan[] }>(`${runledger.httpUrl}/api/v1/runs/${idOf(name)}/evidence`)).spans;

    it('adds the K8S_* pod identity to the resource of every stored span', async () => {
      const spans = await bundleSpans('spiffe');
      expect(spans.map((s) => s.span_id).sort()).toEqual(emitted.get('spiffe')!.spans.map((s) => s.spanId).sort());
      for (const span of spans) {
        expect(span.resource, span.name).toMatchObject({
          'service.name': 'e2e-enrich-engine',
          'k8s.pod.name': POD_ENV.K8S_POD_NAME,
          'k8s.pod.uid': POD_ENV.K8S_POD_UID,
          'k8s.namespace.name': POD_ENV.K8S_NAMESPACE,
          'k8s.node.name': POD_ENV.K8S_NODE_NAME,
          'nhi.k8s.service_account.name': POD_ENV.K8S_SERVICE_ACCOUNT,
        });
      }
    });

    it('keeps a value the sender set itself (k8s.namespace.name) and adds the rest', async () => {
      const spans = await bundleSpans('canonical');
      expect(spans).toHaveLength(emitted.get('canonical')!.spans.length);
      for (const span of spans) {
        expect(span.resource, span.name).toEqual({
          ...span.resource, // SDK-provided telemetry.sdk.* attributes
          'service.name': 'e2e-enrich-tenant',
          'k8s.namespace.name': 'tenant-a',
          'k8s.pod.name': POD_ENV.K8S_POD_NAME,
          'k8s.pod.uid': POD_ENV.K8S_POD_UID,
          'k8s.node.name': POD_ENV.K8S_NODE_NAME,
          'nhi.k8s.service_account.name': POD_ENV.K8S_SERVICE_ACCOUNT,
        });
        expect(span.resource['k8s.namespace.name']).toBe('tenant-a');
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------

describe('reference files edited while serving', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;
  let identitiesPath: string;
  let policiesPath: string;

  const identity = (id: string, key: string) => ({ id, type: 'service_account', owner: `${id}-owner@example.org`, team: 'ops', tier: 'standard', keys: [key] });
  const BACKUP = identity('sa:ops/backup', 'system:serviceaccount:ops:backup');
  const RESTORE = identity('sa:ops/restore', 'system:serviceaccount:ops:restore');
  const CLEANUP = identity('sa:ops/cleanup', 'system:serviceaccount:ops:cleanup');
  const inventoryText = (...identities: object[]) => stringify({ identities });
  const catalogueText = (revision: string) => stringify({ policies: [{ id: 'backup-window', revision, owner: 'ops@example.org' }] });

  const v1 = inventoryText(BACKUP);
  const v2 = inventoryText(BACKUP, RESTORE);
  const broken = 'identities:\n  - id: sa:ops/backup\n    keys: [unterminated\n';
  const v3 = inventoryText(BACKUP, RESTORE, CLEANUP);
  const policies1 = catalogueText('1');
  const policies2 = catalogueText('2');

  /** A run by `actorId` whose decision cites backup-window revision `revision`; judged and read back. */
  async function judgedRun(actorId: string, revision = '1'): Promise<RunRecord> {
    const f = fields('reload', { actorId });
    await emitAndJudge(runledger, sender, workflowRoot(f, [decision('backup-window', 'allow', withRevision(revision)), change('snapshot', 'rds:ops-db')]), f.runId!);
    return getRun(runledger, f.runId!);
  }

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-enrich-reload-'));
    identitiesPath = join(dir, 'identities.yaml');
    policiesPath = join(dir, 'policies.yaml');
    writeFileSync(identitiesPath, v1);
    writeFileSync(policiesPath, policies1);
    runledger = await startRunledger({
      dir,
      config: {
        runs: { settle_ms: SETTLE_MS },
        enrich: { identities_file: identitiesPath, policies_file: policiesPath, reload_interval_seconds: RELOAD_SECONDS },
      },
    });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-enrich-reload' });
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  it('loads both files at start and judges against them', async () => {
    expect(await reloads(runledger, 'identities', 'loaded')).toBe(1);
    expect(await reloads(runledger, 'policies', 'loaded')).toBe(1);
    const r = await judgedRun('system:serviceaccount:ops:restore');
    expect(codes(r)).toEqual(['unregistered_identity']);
    expect(r.reference).toEqual({ inventory: revisionOf(v1), catalogue: revisionOf(policies1) });
  });

  it('takes an identity added to the inventory into account for the next run', async () => {
    writeFileSync(identitiesPath, v2);
    await until('the edited inventory to load', async () => (await reloads(runledger, 'identities', 'loaded')) >= 2);
    const r = await judgedRun('system:serviceaccount:ops:restore');
    expect(r.findings).toEqual([]);
    expect(r.actor).toMatchObject({ id: 'sa:ops/restore', registered: true, owner: 'sa:ops/restore-owner@example.org', reported_id: 'system:serviceaccount:ops:restore' });
    expect(r.reference.inventory).toBe(revisionOf(v2));
    expect(await reloads(runledger, 'identities', 'loaded')).toBe(2);
  });

  it('keeps the last good inventory after a broken edit: counted as failed, logged with the path, recorded as the last good revision', async () => {
    writeFileSync(identitiesPath, broken);
    await until('the broken inventory to be reported', async () => (await reloads(runledger, 'identities', 'failed')) >= 1);
    expect(await reloads(runledger, 'identities', 'failed')).toBe(1);
    expect(await reloads(runledger, 'identities', 'loaded')).toBe(2);

    // The worker's log line reaches stdout through the main thread, possibly after the metric moved.
    await waitForLog(runledger, (l) => l.level === 50 && l.file === 'identities');
    const logged = runledger.logs.filter((l) => l.level === 50 && l.file === 'identities');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ path: identitiesPath, msg: expect.stringContaining('keeping the last good version') });
    expect(JSON.stringify(logged[0]!.err)).toContain(identitiesPath);

    const r = await judgedRun('system:serviceaccount:ops:restore');
    expect(r.findings).toEqual([]);
    expect(r.actor).toMatchObject({ id: 'sa:ops/restore', registered: true });
    expect(r.reference.inventory).toBe(revisionOf(v2));
    // The broken file is reported once, not on every poll.
    await sleep(RELOAD_SECONDS * 1000 * 3);
    expect(await reloads(runledger, 'identities', 'failed')).toBe(1);
  });

  it('loads the file again once the edit is fixed', async () => {
    writeFileSync(identitiesPath, v3);
    await until('the fixed inventory to load', async () => (await reloads(runledger, 'identities', 'loaded')) >= 3);
    const r = await judgedRun('system:serviceaccount:ops:cleanup');
    expect(r.actor).toMatchObject({ id: 'sa:ops/cleanup', registered: true });
    expect(r.reference.inventory).toBe(revisionOf(v3));
  });

  it('takes a new policy revision into account: decisions citing the old one become policy_revision_mismatch', async () => {
    writeFileSync(policiesPath, policies2);
    await until('the edited catalogue to load', async () => (await reloads(runledger, 'policies', 'loaded')) >= 2);
    const stale = await judgedRun('system:serviceaccount:ops:backup', '1');
    expect(codes(stale)).toEqual(['policy_revision_mismatch']);
    expect(stale.reference).toEqual({ inventory: revisionOf(v3), catalogue: revisionOf(policies2) });
    const current = await judgedRun('system:serviceaccount:ops:backup', '2');
    expect(current.findings).toEqual([]);
    expect(await reloads(runledger, 'policies', 'failed')).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------

interface ServeAttempt {
  /** It logged that both listeners are up (then it was stopped with SIGTERM). */
  readonly started: boolean;
  /** Exit code, or the signal that ended it (SIGKILL: it hung after failing to start). */
  readonly code: number | string;
  readonly output: string;
}

/**
 * Runs `serve` until it listens (then stops it), exits, or hangs: a process that logged `start failed`
 * gets 3 s to exit, anything else 15 s, before it is killed.
 */
function attemptServe(configPath: string): Promise<ServeAttempt> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let started = false;
    let grace: NodeJS.Timeout | undefined;
    const onOutput = (chunk: Buffer): void => {
      output += chunk.toString();
      if (!started && output.includes('"OTLP/HTTP receiver listening"') && output.includes('"HTTP server listening"')) {
        started = true;
        child.kill('SIGTERM');
      }
      // A serve that failed to start must exit by itself: only a hang is killed (and then fails the test).
      if (grace === undefined && output.includes('"start failed"')) grace = setTimeout(() => child.kill('SIGKILL'), PATIENCE_MS);
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const hardStop = setTimeout(() => child.kill('SIGKILL'), PATIENCE_MS);
    child.on('close', (code, signal) => {
      clearTimeout(hardStop);
      clearTimeout(grace);
      resolve({ started, code: code ?? signal ?? 'unknown', output });
    });
  });
}

/** A config for attemptServe: everything in `dir`, listeners on free ports, `enrich` as given. */
function writeServeConfig(dir: string, enrich: Record<string, unknown>): string {
  const configPath = join(dir, 'runledger.yaml');
  writeFileSync(
    configPath,
    stringify({
      receiver: { otlp_grpc: { endpoint: '127.0.0.1:0' }, otlp_http: { endpoint: '127.0.0.1:0' } },
      http: { endpoint: '127.0.0.1:0' },
      storage: { sqlite: { path: join(dir, 'runledger.db') } },
      integrity: { signing_key_file: join(dir, 'signing-key.pem') },
      redaction: { hmac_key_file: join(dir, 'redaction-hmac.key') },
      enrich,
    }),
  );
  return configPath;
}

describe('reference files at start', () => {
  const GOOD_INVENTORY = stringify({ identities: [{ id: 'sa:ops/backup', type: 'service_account', owner: 'ops@example.org', team: 'ops', tier: 'standard' }] });
  const GOOD_CATALOGUE = stringify({ policies: [{ id: 'backup-window', revision: '1', owner: 'ops@example.org' }] });
  const cases = [
    { title: 'an inventory that is not valid YAML', file: 'identities', identities: 'identities:\n  - id: [unterminated\n', policies: GOOD_CATALOGUE, says: 'YAML:' },
    {
      title: 'a catalogue with an unquoted numeric revision',
      file: 'policies',
      identities: GOOD_INVENTORY,
      policies: 'policies:\n  - id: backup-window\n    revision: 7\n    owner: ops@example.org\n',
      says: 'policies.0.revision',
    },
    { title: 'an inventory file that does not exist', file: 'identities', identities: undefined, policies: GOOD_CATALOGUE, says: 'cannot read file' },
  ] as const;
  const attempts = new Map<string, { readonly path: string; readonly attempt: ServeAttempt }>();
  let fractional: { readonly check: CliResult; readonly attempt: ServeAttempt };

  beforeAll(async () => {
    const broken = cases.map(async (c) => {
      const dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-enrich-broken-'));
      const paths = { identities: join(dir, 'identities.yaml'), policies: join(dir, 'policies.yaml') };
      if (c.identities !== undefined) writeFileSync(paths.identities, c.identities);
      writeFileSync(paths.policies, c.policies);
      const attempt = await attemptServe(writeServeConfig(dir, { identities_file: paths.identities, policies_file: paths.policies }));
      attempts.set(c.title, { path: paths[c.file], attempt });
    });
    const fractionalInterval = (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-enrich-interval-'));
      writeFileSync(join(dir, 'identities.yaml'), GOOD_INVENTORY);
      const configPath = writeServeConfig(dir, { identities_file: join(dir, 'identities.yaml'), reload_interval_seconds: 2.01 });
      const [check, attempt] = await Promise.all([runledgerCli(['config', 'check', '--config', configPath]), attemptServe(configPath)]);
      fractional = { check, attempt };
    })();
    await Promise.all([...broken, fractionalInterval]);
  });

  it.each(cases)('refuses to start with $title, naming the file and the problem in its output', ({ title, says }) => {
    const { path, attempt } = attempts.get(title)!;
    expect(attempt.started, attempt.output).toBe(false);
    const failure = attempt.output.split('\n').find((line) => line.includes('"start failed"'));
    expect(failure, attempt.output).toBeDefined();
    expect(failure).toContain(path);
    expect(failure).toContain(says);
  });

  // A history worker that failed to start is terminated, so serve exits instead of hanging.
  it.each(cases)('exits non-zero after failing to start with $title', ({ title }) => {
    const { attempt } = attempts.get(title)!;
    expect(attempt.code, `serve did not exit by itself (killed with ${attempt.code}): ${attempt.output}`).toBeTypeOf('number');
    expect(attempt.code).not.toBe(0);
  });

  // 2.01 * 1000 is 2009.9999999999998: the interval is rounded, not refused.
  it('starts with a reload_interval_seconds that config check accepts (2.01)', () => {
    expect(fractional.check.code, fractional.check.stderr).toBe(0);
    expect(fractional.attempt.started, fractional.attempt.output).toBe(true);
  });
});
