import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { metricValue } from '../support/metrics.js';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { findingsOf, listRuns, showRun, showRunText, waitForRuns, type RunView } from '../support/runs-cli.js';
import { change, decision, emitRun, newRunId, workflowRoot, type EmittedRun, type RunFields, type StepSpec } from '../support/workflows.js';

/**
 * Issue 13 end to end: order, authority and time in every judgement, through the OpenTelemetry SDK's
 * OTLP/gRPC exporter and a real `serve` process, with an NHI inventory. Each rule has a case that must
 * be flagged and the case next to it that must stay compliant.
 */

const INVENTORY = {
  spiffe_trust_domains: ['corp.example'],
  identities: [
    { id: 'sa:ops/config-deployer', type: 'workload', owner: 'ops@example.org', team: 'ops', tier: 'privileged', keys: ['system:serviceaccount:ops:config-deployer'] },
    { id: 'sa:vault/distributor', type: 'service_account', owner: 'sec@example.org', team: 'security', tier: 'privileged', keys: ['system:serviceaccount:vault:distributor'] },
  ],
};

const inHours = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
const base = (label: string, over: RunFields = {}): RunFields => ({
  runId: newRunId(label),
  workflow: 'e2e-verdicts',
  result: 'success',
  triggerKind: 'api',
  actorId: 'spiffe://corp.example/ns/ops/sa/config-deployer',
  actorType: 'workload',
  ...over,
});
const jit = (label: string, over: RunFields = {}) => base(label, { kind: 'jit_access', requesterId: 'alice@example.org', grantExpiresAt: inHours(1), ...over });
const allow = decision('jit.prod-db', 'allow');
const deny = decision('jit.prod-db', 'deny');
const grant = (options: Parameters<typeof change>[2] = {}) => change('grant', 'role/prod-db-reader:alice', options);
const rotate = change('rotate', 'vault:kv/payments-db');

interface Scenario {
  readonly fields: RunFields;
  readonly steps: readonly StepSpec[];
}

const scenarios = {
  lateApproval: { fields: jit('late-approval'), steps: [grant(), allow] },
  gated: { fields: jit('gated'), steps: [allow, grant()] },
  retried: { fields: jit('retried'), steps: [allow, grant({ failed: true, errorType: 'connector_timeout' }), grant()] },
  threeDays: { fields: jit('three-days', { grantExpiresAt: inHours(72) }), steps: [allow, grant()] },
  expiredBefore: { fields: jit('expired-before', { grantExpiresAt: inHours(-1) }), steps: [allow, grant()] },
  afterDeny: { fields: base('after-deny'), steps: [deny, rotate] },
  denyThenAllow: { fields: base('deny-then-allow'), steps: [deny, allow, rotate] },
  stepActorRegistered: {
    fields: base('step-actor-ok'),
    steps: [allow, change('distribute', 'app:payments', { attributes: { 'nhi.actor.id': 'spiffe://corp.example/ns/vault/sa/distributor' } })],
  },
  stepActorUnknown: {
    fields: base('step-actor-rogue'),
    steps: [allow, change('distribute', 'app:payments', { attributes: { 'nhi.actor.id': 'system:serviceaccount:vault:rogue' } })],
  },
} satisfies Record<string, Scenario>;
type Name = keyof typeof scenarios;

describe('verdicts an auditor accepts: order, authority and time', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;
  const emitted = new Map<Name, EmittedRun>();
  const listed = new Map<string, RunView>();

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-verdicts-'));
    writeFileSync(join(dir, 'identities.yaml'), stringify(INVENTORY));
    runledger = await startRunledger({ dir, config: { runs: { settle_ms: 200 }, enrich: { identities_file: join(dir, 'identities.yaml') } } });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-verdicts' });
    for (const [name, s] of Object.entries(scenarios) as Array<[Name, Scenario]>) emitted.set(name, emitRun(sender.tracer, workflowRoot(s.fields, s.steps)));
    await sender.flush();
    await waitForRuns(runledger.dbPath, Object.values(scenarios).map((s) => s.fields.runId!));
    for (const run of await listRuns(runledger.configPath, { limit: 100 })) listed.set(run.run_id, run);
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  const run = (name: Name) => listed.get(scenarios[name].fields.runId!)!;
  const spanId = (name: Name, span: string) => emitted.get(name)!.spanId(span);

  it('flags a grant whose approval was recorded after it, naming the grant and the late decision', () => {
    const r = run('lateApproval');
    expect(r.status).toBe('violation');
    const ungated = r.findings!.find((f) => f.code === 'ungated_change');
    expect(ungated).toMatchObject({
      rule: 'gate_changes_on_allow',
      profile: 'jit_access',
      span_ids: [spanId('lateApproval', 'grant role/prod-db-reader:alice'), spanId('lateApproval', 'policy jit.prod-db')],
    });
  });

  it('keeps a gated grant with a sane expiry, and a retried grant that finally succeeded, compliant', () => {
    for (const name of ['gated', 'retried'] as const) {
      expect({ name, status: run(name).status, outcome: run(name).outcome, findings: findingsOf(run(name)) }).toEqual({ name, status: 'compliant', outcome: 'complete', findings: [] });
    }
  });

  it("flags a JIT grant that outlives the profile's maximum, with its duration, and an expiry before the grant", () => {
    const long = run('threeDays');
    expect(long.status).toBe('violation');
    expect(long.findings!.find((f) => f.code === 'grant_duration_exceeded')?.message).toMatch(/lasts 2d 23h|lasts 3d/);
    expect(findingsOf(run('expiredBefore'))).toEqual(['invalid_field:grant.expires_at']);
    expect(run('expiredBefore').findings![0]!.message).toMatch(/is 1h|is 5\dm/);
  });

  it('flags a change after a deny in the default profile, and not one after a later allow', () => {
    const r = run('afterDeny');
    expect(r.status).toBe('violation');
    expect(r.findings!.filter((f) => f.code === 'change_after_deny')).toEqual([
      expect.objectContaining({ rule: 'deny_binds', span_ids: [spanId('afterDeny', 'rotate vault:kv/payments-db'), spanId('afterDeny', 'policy jit.prod-db')] }),
    ]);
    expect(run('denyThenAllow')).toMatchObject({ status: 'compliant', findings: [] });
  });

  it('resolves each step that acts as its own identity: registered by another key form is compliant, unknown is a violation naming the step', async () => {
    expect(run('stepActorRegistered')).toMatchObject({ status: 'compliant', findings: [] });
    const rogue = run('stepActorUnknown');
    expect(rogue.status).toBe('violation');
    expect(rogue.findings).toEqual([
      expect.objectContaining({ code: 'unregistered_identity', span_id: spanId('stepActorUnknown', 'distribute app:payments'), message: expect.stringContaining('system:serviceaccount:vault:rogue') }),
    ]);
    const shown = await showRun(runledger.configPath, scenarios.stepActorRegistered.fields.runId!);
    expect(shown!.steps!.find((s) => s.name === 'distribute app:payments')?.actor).toEqual({
      id: 'sa:vault/distributor',
      reported_id: 'spiffe://corp.example/ns/vault/sa/distributor',
      registered: true,
    });
    const text = await showRunText(runledger.configPath, scenarios.stepActorUnknown.fields.runId!);
    expect(text).toMatch(/ACTOR/);
    expect(text).toContain('system:serviceaccount:vault:rogue (unregistered)');
  });

  it('explains a finding in runs show: the rule, the profile that asks for it, and the spans by name', async () => {
    const text = await showRunText(runledger.configPath, scenarios.lateApproval.fields.runId!);
    expect(text).toContain('rule gate_changes_on_allow of profile jit_access: the profile requires each change to follow an allow decision');
    expect(text).toContain(
      `spans ${spanId('lateApproval', 'grant role/prod-db-reader:alice')} (grant role/prod-db-reader:alice), ${spanId('lateApproval', 'policy jit.prod-db')} (policy jit.prod-db)`,
    );
    expect(text).toMatch(/controls NHI5, PR\.AA-05/);
    expect(text).toContain('profiles  default, jit_access');
  });
});

describe('an amendment is an amendment: re-exported spans change nothing', () => {
  let runledger: RunledgerProcess;

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: 200 } } });
  });
  afterAll(async () => {
    await runledger?.stop();
  });

  it('adds no revision for spans exported again with other content, counts them, and still amends with a new span', async () => {
    // The application's own pipeline, whose finished spans the test keeps to export them again.
    const kept = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'e2e-reexport' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: runledger.grpcUrl })), new SimpleSpanProcessor(kept)],
    });
    const fields = base('reexport', { actorId: 'sa:payments/rotator' });
    const emitted = emitRun(provider.getTracer('e2e'), workflowRoot(fields, [decision('change-management', 'allow'), rotate]));
    await provider.forceFlush();
    await waitForRuns(runledger.dbPath, [fields.runId!]);
    const first = await showRun(runledger.configPath, fields.runId!);
    expect(first).toMatchObject({ revision: 1, status: 'compliant' });

    // The same spans again (an exporter's retry after a lost answer), the decision now claiming a deny
    // and the rotation a failure: the first copy stands.
    const tampered = kept.getFinishedSpans().map((span): ReadableSpan => {
      const attributes = span.name.startsWith('policy') ? { ...span.attributes, 'nhi.policy.decision': 'deny' } : span.attributes;
      return { ...span, spanContext: () => span.spanContext(), attributes, status: span.name.startsWith('rotate') ? { code: SpanStatusCode.ERROR } : span.status };
    });
    const resend = new OTLPTraceExporter({ url: runledger.grpcUrl });
    const result = await new Promise<{ code: number }>((resolve) => resend.export(tampered, resolve));
    expect(result.code).toBe(0); // ExportResultCode.SUCCESS: runledger acknowledged the copies
    const deadline = Date.now() + 15_000;
    while ((await metricValue(runledger.httpUrl, 'runledger_spans_duplicate_total')) < tampered.length) {
      if (Date.now() > deadline) throw new Error('the copies were never counted');
      await sleep(50);
    }
    expect(await metricValue(runledger.httpUrl, 'runledger_spans_duplicate_total')).toBe(3);
    const after = await showRun(runledger.configPath, fields.runId!);
    expect(after).toMatchObject({ revision: 1, status: 'compliant', outcome: 'complete' });
    expect(after!.revisions!.map((r) => r.revision)).toEqual([1]);

    // A span that is really new still amends the run.
    const tracer = provider.getTracer('e2e');
    tracer.startSpan('verify vault:kv/payments-db', { attributes: { 'nhi.change.operation': 'verify', 'nhi.change.target': 'vault:kv/payments-db' } }, emitted.rootContext).end();
    await provider.forceFlush();
    await waitForRuns(runledger.dbPath, [fields.runId!], { minRevision: 2 });
    const amended = await showRun(runledger.configPath, fields.runId!);
    expect(amended).toMatchObject({ revision: 2, span_count: 4, status: 'compliant' });
    await resend.shutdown();
    await provider.shutdown();
  });
});
