import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { listRuns, runledgerCli, showRunText, waitForRuns } from '../support/runs-cli.js';
import { change, decision, emitRun, newRunId, workflowRoot, type EmittedRun, type RunFields, type StepSpec } from '../support/workflows.js';

/** DESIGN §9: `runs list` filters and the plain-text `runs show` an operator reads. */

const suffix = newRunId('wf');
const ROTATE = `e2e-queries-rotate-${suffix}`;
const JIT = `e2e-queries-jit-${suffix}`;

const rotation = (label: string): RunFields => ({
  runId: newRunId(label),
  workflow: ROTATE,
  kind: 'secret_rotation',
  result: 'success',
  triggerKind: 'schedule',
  actorId: 'system:serviceaccount:secrets:rotator',
  actorType: 'service_account',
});
const rotationSteps = (withRevoke: boolean): StepSpec[] => [
  decision('rotation.window', 'allow'),
  change('create', 'vault:kv/smtp#v5'),
  change('distribute', 'k8s:mailer/smtp'),
  change('verify', 'svc:mailer'),
  ...(withRevoke ? [change('revoke', 'vault:kv/smtp#v4')] : []),
];

describe.concurrent('runs list and runs show', () => {
  let runledger: RunledgerProcess;
  let sender: OtelSender;
  const runs = {
    compliantA: rotation('list-ok-a'),
    compliantB: rotation('list-ok-b'),
    partial: rotation('list-partial'),
    ungated: {
      runId: newRunId('list-ungated'),
      workflow: JIT,
      kind: 'jit_access',
      result: 'success',
      triggerKind: 'api',
      actorId: 'system:serviceaccount:access:jit-broker',
      requesterId: 'carol@corp.example',
      grantExpiresAt: new Date(Date.now() + 600_000).toISOString(),
    } satisfies RunFields,
  };
  let ungated: EmittedRun;

  beforeAll(async () => {
    runledger = await startRunledger({ config: { runs: { settle_ms: 200 } } });
    sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-queries' });
    emitRun(sender.tracer, workflowRoot(runs.compliantA, rotationSteps(true)));
    emitRun(sender.tracer, workflowRoot(runs.compliantB, rotationSteps(true)));
    emitRun(sender.tracer, workflowRoot(runs.partial, rotationSteps(false)));
    ungated = emitRun(sender.tracer, workflowRoot(runs.ungated, [change('grant', 'role/billing-admin:carol')]));
    await sender.flush();
    await waitForRuns(runledger.dbPath, Object.values(runs).map((r) => r.runId!));
  });

  afterAll(async () => {
    await sender?.shutdown();
    await runledger?.stop();
  });

  const ids = (list: ReadonlyArray<{ run_id: string }>) => list.map((r) => r.run_id).sort();

  it('lists the runs of one workflow, without their steps or evidence', async () => {
    const list = await listRuns(runledger.configPath, { workflow: ROTATE });
    expect(ids(list)).toEqual([runs.compliantA.runId, runs.compliantB.runId, runs.partial.runId].sort());
    for (const run of list) {
      expect(run).toMatchObject({ revision: 1, state: 'evaluated', workflow: ROTATE, kind: 'secret_rotation' });
      expect(run.steps).toBeUndefined();
      expect(run.evidence).toBeUndefined();
    }
  });

  it('filters by status within a workflow', async () => {
    const [compliant, incomplete] = await Promise.all([
      listRuns(runledger.configPath, { workflow: ROTATE, status: 'compliant' }),
      listRuns(runledger.configPath, { workflow: ROTATE, status: 'incomplete' }),
    ]);
    expect(ids(compliant)).toEqual([runs.compliantA.runId, runs.compliantB.runId].sort());
    expect(ids(incomplete)).toEqual([runs.partial.runId]);
    expect(incomplete[0]).toMatchObject({ outcome: 'partial' });
  });

  it('filters violations across workflows, and by kind and finding code', async () => {
    const [violations, jit, partials] = await Promise.all([
      listRuns(runledger.configPath, { status: 'violation' }),
      listRuns(runledger.configPath, { kind: 'jit_access', workflow: JIT }),
      listRuns(runledger.configPath, { finding: 'partial_change' }),
    ]);
    expect(ids(violations)).toEqual([runs.ungated.runId]);
    expect(violations[0]!.findings?.map((f) => f.code)).toContain('ungated_change');
    expect(ids(jit)).toEqual([runs.ungated.runId]);
    expect(ids(partials)).toEqual([runs.partial.runId]);
  });

  it('prints a run as text with its summary, findings, steps and revisions', async () => {
    const text = await showRunText(runledger.configPath, runs.partial.runId!);
    expect(text).toContain(`run ${runs.partial.runId}  revision 1  (evaluated)`);
    expect(text).toMatch(/status\s+incomplete\s+outcome partial\s+declared success/);
    expect(text).toContain('actor     system:serviceaccount:secrets:rotator (service_account)');
    expect(text).toContain('findings (2)');
    expect(text).toMatch(/error\s+partial_change \[change\.operation\]: required revoke step is absent/);
    expect(text).toMatch(/warning\s+declared_result_mismatch \[run\.result\]: declared "success"/);
    expect(text).toContain('steps');
    expect(text).toMatch(/change\s+unset\s+create vault:kv\/smtp#v5\s+e2e-queries\s+change\.operation=create change\.target=vault:kv\/smtp#v5/);
    expect(text).toMatch(/revisions\n\s+1\s+\S+\s+settled\s+incomplete \/ partial/);
    expect(text).toContain('verify svc:mailer');
  });

  it('prints the span id of a finding that points at a step', async () => {
    const text = await showRunText(runledger.configPath, runs.ungated.runId!);
    const grantSpan = ungated.spanId('grant role/billing-admin:carol');
    expect(text).toContain(`critical ungated_change span ${grantSpan}: grant of role/billing-admin:carol succeeded without an allow decision`);
  });

  it('lists runs as a table and says when none match', async () => {
    const [table, none] = await Promise.all([
      runledgerCli(['runs', 'list', '--config', runledger.configPath, '--workflow', ROTATE, '--status', 'incomplete']),
      runledgerCli(['runs', 'list', '--config', runledger.configPath, '--workflow', `${ROTATE}-nothing`]),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^RUN\s+REV\s+WORKFLOW\s+KIND\s+STATUS\s+OUTCOME\s+ACTOR\s+STARTED\s+FINDINGS$/);
    expect(table.stdout).toContain(runs.partial.runId);
    expect(table.stdout).toMatch(new RegExp(`${runs.partial.runId}\\s+1\\s+${ROTATE}\\s+secret_rotation\\s+incomplete\\s+partial\\s+`));
    expect(table.stdout).toContain('partial_change');
    expect(none.stdout.trim()).toBe('no runs');
  });

  it('answers exit code 3 for a run it does not know', async () => {
    const result = await runledgerCli(['runs', 'show', 'no-such-run', '--config', runledger.configPath, '--json']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('run no-such-run not found');
  });
});
