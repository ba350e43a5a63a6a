/**
 * Builds (once, then reuses) a SQLite store holding N evaluated runs for the query benchmark (query.ts).
 *
 * The file is created with the real schema (openDatabase applies the migrations) and filled the way
 * RunStore.saveRevision fills it: a `runs` index row (state 'evaluated', revision 1, summary columns), a
 * `run_revisions` row whose record has the shape of a real verdict record (RunVerdict plus revision,
 * evaluated_at and reason, steps included), and one `run_findings` row per distinct finding code.
 * Spans, trigger/decision claims and the hash chain are not written: listing runs never reads them.
 *
 * Distributions: ~50 workflows (zipf), each of one of 6 kinds; ~2,000 actors (zipf); statuses about
 * 85% compliant / 12% incomplete / 3% violation; 1-3 findings per non-compliant run (a few compliant
 * runs carry the info finding definition_changed); runs started over 90 days ending at build time.
 *
 * The build is deterministic for a seed, runs with synchronous=OFF and journal_mode=OFF in large
 * transactions (the file is written under a temporary name and renamed when complete), and ends in
 * WAL mode like any store. The file is cached under the given directory, named by schema version,
 * migration digest, generator version, run count and seed, with a .meta.json of what it holds.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FINDING_CODES, type FindingCode } from '../src/evidence/findings.js';
import { openDatabase } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { Rng } from './workload.js';

/** Bump when the generated data changes, so cached stores are rebuilt. */
const GENERATOR_VERSION = 2;

export interface StoreOptions {
  readonly runs: number;
  readonly seed: number;
  readonly dir: string;
  readonly rebuild: boolean;
  readonly log: (message: string) => void;
}

export interface CodeCount {
  readonly name: string;
  readonly runs: number;
}

export interface StoreMeta {
  readonly generatorVersion: number;
  readonly schemaVersion: number;
  readonly runs: number;
  readonly seed: number;
  readonly builtAt: string;
  readonly buildMs: number;
  /** Epoch ns (as strings) of the first and last run start. */
  readonly firstStartNs: string;
  readonly lastStartNs: string;
  readonly meanRecordBytes: number;
  readonly findingRows: number;
  /** Most runs first. */
  readonly workflows: readonly (CodeCount & { readonly kind: string })[];
  readonly kinds: readonly CodeCount[];
  readonly statuses: readonly CodeCount[];
  readonly findings: readonly CodeCount[];
  /** Actors by runs, most first: the top 5 and a few around the median. */
  readonly actors: readonly CodeCount[];
  readonly medianActor: CodeCount;
}

export interface BenchStore {
  readonly path: string;
  readonly meta: StoreMeta;
  readonly built: boolean;
}

const DAY_NS = 86_400n * 1_000_000_000n;
const SPAN_DAYS = 90n;
const WORKFLOW_COUNT = 50;
const ACTOR_COUNT = 2_000;
const RUNS_PER_TRANSACTION = 25_000;

const storeName = (schema: string, runs: number, seed: number) => `runledger-bench-query-schema${schema}-g${GENERATOR_VERSION}-${runs}-seed${seed}.db`;

/** The cache file: named by schema version and migration digest (released migrations do get edited), generator, size and seed. */
export function storeFile(options: Pick<StoreOptions, 'dir' | 'runs' | 'seed'>): string {
  const digest = createHash('sha256').update(MIGRATIONS.join('\n--\n')).digest('hex').slice(0, 10);
  return join(options.dir, storeName(`${MIGRATIONS.length}-${digest}`, options.runs, options.seed));
}

/** Removes stores of the same size and seed built for another schema or generator (several GB each). */
function removeStale(current: string, options: StoreOptions): void {
  const pattern = new RegExp(`^runledger-bench-query-schema\\d+-[0-9a-f]+-g\\d+-${options.runs}-seed${options.seed}\\.db$`);
  for (const name of readdirSync(options.dir)) {
    if (!pattern.test(name) || name === basename(current)) continue;
    options.log(`removing a cached store of another schema: ${name}`);
    for (const suffix of ['', '-wal', '-shm', '.meta.json']) rmSync(join(options.dir, `${name}${suffix}`), { force: true });
  }
}

/** Returns the cached store for these options, building it first when absent (or when asked to). */
export async function ensureStore(options: StoreOptions): Promise<BenchStore> {
  const path = storeFile(options);
  const metaPath = `${path}.meta.json`;
  if (!options.rebuild && existsSync(path) && existsSync(metaPath)) {
    try {
      const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as StoreMeta;
      if (meta.generatorVersion === GENERATOR_VERSION && meta.runs === options.runs) return { path, meta, built: false };
    } catch {
      options.log(`unreadable ${metaPath}; rebuilding`);
    }
  }
  for (const suffix of ['', '-wal', '-shm', '.meta.json']) rmSync(`${path}${suffix}`, { force: true });
  removeStale(path, options);
  const tmp = `${path}.building-${process.pid}`;
  // A half-built file is gigabytes: removed however the build ends (process.exit included).
  const cleanup = () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${tmp}${suffix}`, { force: true });
  };
  cleanup();
  process.on('exit', cleanup);
  try {
    const meta = await build(tmp, options);
    renameSync(tmp, path);
    writeFileSync(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
    return { path, meta, built: true };
  } finally {
    cleanup();
    process.off('exit', cleanup);
  }
}

// ---------------------------------------------------------------- vocabulary

type Kind = 'jit_access' | 'secret_rotation' | 'agent_task' | 'access_review' | 'deprovisioning' | 'ci_deploy';

const KINDS: readonly Kind[] = ['ci_deploy', 'secret_rotation', 'jit_access', 'agent_task', 'deprovisioning', 'access_review'];

interface StepTemplate {
  readonly name: string;
  readonly type: 'decision' | 'change' | 'tool_call' | 'other';
  readonly operation?: string;
  readonly service: string;
}

/** The steps each kind records besides its root; fillers pad runs to their step count. */
const KIND_STEPS: Record<Kind, readonly StepTemplate[]> = {
  ci_deploy: [
    { name: 'policy.evaluate deploy', type: 'decision', service: 'opa' },
    { name: 'helm upgrade', type: 'change', operation: 'deploy', service: 'deployer' },
    { name: 'db migrate', type: 'change', operation: 'migrate', service: 'deployer' },
    { name: 'smoke test', type: 'other', service: 'ci-runner' },
  ],
  secret_rotation: [
    { name: 'policy.evaluate rotate', type: 'decision', service: 'opa' },
    { name: 'secretsmanager.PutSecretValue', type: 'change', operation: 'create', service: 'rotator' },
    { name: 'distribute to consumers', type: 'change', operation: 'distribute', service: 'rotator' },
    { name: 'iam.DeleteAccessKey', type: 'change', operation: 'revoke', service: 'rotator' },
    { name: 'verify consumers', type: 'change', operation: 'verify', service: 'rotator' },
  ],
  jit_access: [
    { name: 'policy.evaluate grant', type: 'decision', service: 'opa' },
    { name: 'iam.AttachRolePolicy', type: 'change', operation: 'grant', service: 'access-broker' },
    { name: 'notify requester', type: 'other', service: 'access-broker' },
  ],
  agent_task: [
    { name: 'policy.evaluate tool-use', type: 'decision', service: 'agent-gateway' },
    { name: 'chat gpt-4.1', type: 'other', service: 'agent' },
    { name: 'execute_tool aws.iam.UpdateAssumeRolePolicy', type: 'tool_call', operation: 'aws.iam.UpdateAssumeRolePolicy', service: 'agent' },
    { name: 'execute_tool github.pulls.create', type: 'tool_call', operation: 'github.pulls.create', service: 'agent' },
  ],
  deprovisioning: [
    { name: 'policy.evaluate deprovision', type: 'decision', service: 'opa' },
    { name: 'iam.UpdateUser disable', type: 'change', operation: 'disable', service: 'lifecycle' },
    { name: 'iam.DeleteAccessKey', type: 'change', operation: 'revoke', service: 'lifecycle' },
    { name: 'verify no active credentials', type: 'change', operation: 'verify', service: 'lifecycle' },
  ],
  access_review: [
    { name: 'policy.evaluate review', type: 'decision', service: 'opa' },
    { name: 'list grants', type: 'other', service: 'reviewer' },
    { name: 'iam.DetachRolePolicy', type: 'change', operation: 'revoke', service: 'reviewer' },
  ],
};

const FILLERS: readonly StepTemplate[] = [
  { name: 'GET /v1/config', type: 'other', service: 'config-svc' },
  { name: 'sts.AssumeRoleWithWebIdentity', type: 'other', service: 'aws-sdk' },
  { name: 'checkout', type: 'other', service: 'ci-runner' },
  { name: 'render manifests', type: 'other', service: 'ci-runner' },
  { name: 'POST /hooks/slack', type: 'other', service: 'notifier' },
];

const VERBS = ['rotate', 'deploy', 'grant', 'revoke', 'sync', 'provision', 'review', 'remediate', 'backup', 'migrate'];
const OBJECTS = ['service-account-keys', 'payments-api', 'ledger-db', 'oidc-trust', 'vault-approle', 'github-app-token', 'k8s-rbac', 'ci-runners'];
const ENVS = ['prod-eu-west-1', 'prod-us-east-1', 'staging', 'nightly-sweep', 'dr-ap-southeast-2'];
const ACTOR_TYPES = ['service_account', 'workload', 'ai_agent', 'ci_job'] as const;
const AUTHN = ['oidc', 'irsa', 'spiffe', 'access_key', 'github_oidc'];
const TRIGGERS = ['schedule', 'webhook', 'manual', 'event', 'api'];
const POLICIES = ['nhi-deploy-gate', 'nhi-rotation-window', 'jit-approval', 'agent-tool-guard', 'offboarding'];

/** Codes and weights by the class of run that carries them (see evaluate.ts for what raises each). */
const EVIDENCE_CODES: ReadonlyArray<readonly [FindingCode, number]> = [
  ['missing_field', 40],
  ['missing_decision', 15],
  ['partial_change', 12],
  ['invalid_field', 8],
  ['declared_result_mismatch', 6],
  ['constraint_failed', 5],
  ['missing_change', 5],
  ['root_span_missing', 4],
  ['policy_revision_mismatch', 2],
  ['unknown_policy', 1.5],
  ['agent_boundary_missing', 1],
  ['run_capped', 0.2],
];
const VIOLATION_CODES: ReadonlyArray<readonly [FindingCode, number]> = [
  ['ungated_change', 35],
  ['unregistered_identity', 25],
  ['replayed_trigger', 15],
  ['reused_approval', 10],
  ['tool_outside_boundary', 10],
  ['definition_drift', 5],
];

const FINDING_MESSAGES: Partial<Record<FindingCode, string>> = {
  missing_field: 'requester.id is missing (looked for nhi.requester.id, enduser.id, user.id)',
  missing_decision: 'no policy decision with a policy id and a result was recorded',
  partial_change: 'the old version must be revoked, or the rotation left a live secret',
  invalid_field: 'actor.type is "service_account", expected ai_agent',
  declared_result_mismatch: 'declared "success" but the change steps show outcome partial',
  constraint_failed: 'grant must expire within 8 hours',
  missing_change: 'no change step (nhi.change.operation and a target) was recorded',
  root_span_missing: 'no root span (a span carrying the run identity with no parent in the run) arrived',
  policy_revision_mismatch: "decision \"policy.evaluate\" used nhi-deploy-gate revision 41; the catalogue's current revision is 42",
  unknown_policy: 'decision "policy.evaluate" cites policy legacy-gate, which the catalogue does not list',
  agent_boundary_missing: 'no approved tool set for agent agent-0042 in the policy catalogue',
  run_capped: 'the run reached 10000 spans and was judged early',
  ungated_change: 'grant of arn:aws:iam::123456789012:role/prod-admin succeeded without an allow decision',
  unregistered_identity: 'actor sa-ghost-7 is not in the NHI inventory (revision 2024-11-02)',
  replayed_trigger: 'trigger event github|evt-8f3a already started run 0b5e2c1d-5a1f-4e0b-9c7d-2f1e0a9b8c7d',
  reused_approval: 'decision dec-51ac already authorised run 7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  tool_outside_boundary: 'agent agent-0042 called tool aws.iam.CreateUser, outside its approved tools',
  definition_drift: 'definition 5e4d3c2b1a0f9e8d differs from the pinned 9f2c4e1a7b3d5f60',
  definition_changed: 'definition changed from 0d8e7c6b5a493827 (run 3a2b1c0d-...) to c1b2a3f4e5d6c7b8',
};

// ---------------------------------------------------------------- distributions

/** Cumulative weights for sampling an index by weight. */
function cumulative(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((w, i) => {
    sum += w;
    out[i] = sum;
  });
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

function sample(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const zipf = (n: number, s: number) => cumulative(Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s));

function uuid(rng: Rng): string {
  const h = rng.hex(32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[rng.int(4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();

// ---------------------------------------------------------------- the build

interface Workflow {
  readonly name: string;
  readonly kind: Kind;
  readonly definition: string;
}

async function build(path: string, options: StoreOptions): Promise<StoreMeta> {
  const started = performance.now();
  const rng = new Rng(options.seed);
  const db = openDatabase({ path, synchronous: 'normal', busy_timeout_ms: 5000 });
  // For the build only: nothing is durable until the file is renamed into place.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1048576');
  db.pragma('temp_store = MEMORY');

  const workflows: Workflow[] = Array.from({ length: WORKFLOW_COUNT }, (_, i) => {
    const name = `${VERBS[i % VERBS.length]}-${OBJECTS[(i * 7 + 3) % OBJECTS.length]}/${ENVS[(i * 3 + 1) % ENVS.length]}-${i}`;
    return { name, kind: KINDS[i % KINDS.length]!, definition: rng.hex(16) };
  });
  const workflowCdf = zipf(WORKFLOW_COUNT, 1.1);
  const actors = Array.from({ length: ACTOR_COUNT }, (_, i) => {
    const type = ACTOR_TYPES[i % ACTOR_TYPES.length]!;
    const prefix = type === 'ai_agent' ? 'agent' : type === 'ci_job' ? 'ci' : type === 'workload' ? 'spiffe://prod.example.com/ns/apps/sa/wl' : 'sa';
    return { index: i, id: `${prefix}-${String(i).padStart(4, '0')}`, type, authn: AUTHN[i % AUTHN.length]! };
  });
  const actorCdf = zipf(ACTOR_COUNT, 0.9);
  const evidenceCdf = cumulative(EVIDENCE_CODES.map(([, w]) => w));
  const violationCdf = cumulative(VIOLATION_CODES.map(([, w]) => w));

  // Summary columns added by later schema edits are filled when present.
  const runColumns = new Set((db.pragma('table_info(runs)') as Array<{ name: string }>).map((c) => c.name));
  const withDefinition = runColumns.has('definition');
  const insertRun = db.prepare(
    `INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count, revision, workflow, kind,
       status, outcome, actor_id, started_ns, ended_ns, evaluated_ns${withDefinition ? ', definition' : ''})
     VALUES (?, 'evaluated', ?, ?, 1, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?${withDefinition ? ', ?' : ''})`,
  );
  const insertRevision = db.prepare(
    `INSERT INTO run_revisions (run_key, revision, evaluated_ns, reason, status, outcome, record) VALUES (?, 1, ?, 'settled', ?, ?, ?)`,
  );
  const insertFinding = db.prepare('INSERT INTO run_findings (run_key, revision, code, started_ns) VALUES (?, 1, ?, ?)');

  const counts = {
    workflows: new Map<string, number>(),
    kinds: new Map<string, number>(),
    statuses: new Map<string, number>(),
    findings: new Map<string, number>(),
    actors: new Uint32Array(ACTOR_COUNT),
  };
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  let recordBytes = 0;
  let findingRows = 0;

  const endNs = (BigInt(Date.now()) / 60_000n) * 60_000n * 1_000_000n;
  const firstNs = endNs - SPAN_DAYS * DAY_NS;
  const gapNs = (SPAN_DAYS * DAY_NS) / BigInt(options.runs);
  let lastStart = firstNs;

  const insertBatch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      // Chronological, like a store filled over time; a jittered gap keeps starts distinct and ordered.
      const startNs = firstNs + BigInt(i) * gapNs + BigInt(Math.floor(rng.next() * Number(gapNs) * 0.9));
      lastStart = startNs;
      const run = generateRun(rng, startNs, workflows[sample(workflowCdf, rng.next())]!, actors[sample(actorCdf, rng.next())]!, {
        evidenceCdf,
        violationCdf,
      });
      const values = [run.runKey, run.firstReceivedNs, run.lastReceivedNs, run.spanCount, run.workflow, run.kind, run.status, run.outcome, run.actorId, startNs, run.endNs, run.evaluatedNs];
      insertRun.run(...values, ...(withDefinition ? [run.definition] : []));
      insertRevision.run(run.runKey, run.evaluatedNs, run.status, run.outcome, run.record);
      for (const code of run.codes) {
        insertFinding.run(run.runKey, code, startNs);
        bump(counts.findings, code);
        findingRows++;
      }
      recordBytes += run.record.length;
      bump(counts.workflows, run.workflow);
      bump(counts.kinds, run.kind);
      bump(counts.statuses, run.status);
      counts.actors[run.actorIndex]!++;
    }
  });
  let lastReport = performance.now();
  for (let from = 0; from < options.runs; from += RUNS_PER_TRANSACTION) {
    const to = Math.min(options.runs, from + RUNS_PER_TRANSACTION);
    insertBatch(from, to);
    // Between transactions, let signals (Ctrl-C) and timers through.
    await new Promise((resolve) => setImmediate(resolve));
    if (performance.now() - lastReport > 10_000 || to === options.runs) {
      lastReport = performance.now();
      options.log(`  ${to.toLocaleString('en-US')} runs inserted (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
  db.pragma('journal_mode = WAL');
  db.close();

  const sorted = (map: Map<string, number>) => [...map].map(([name, runs]) => ({ name, runs })).sort((a, b) => b.runs - a.runs || (a.name < b.name ? -1 : 1));
  const actorCounts = [...counts.actors].map((runs, i) => ({ name: actors[i]!.id, runs })).sort((a, b) => b.runs - a.runs);
  const median = Math.floor(actorCounts.length / 2);
  return {
    generatorVersion: GENERATOR_VERSION,
    schemaVersion: MIGRATIONS.length,
    runs: options.runs,
    seed: options.seed,
    builtAt: new Date().toISOString(),
    buildMs: Math.round(performance.now() - started),
    firstStartNs: firstNs.toString(),
    lastStartNs: lastStart.toString(),
    meanRecordBytes: Math.round(recordBytes / options.runs),
    findingRows,
    workflows: sorted(counts.workflows).map((w) => ({ ...w, kind: workflows.find((x) => x.name === w.name)!.kind })),
    kinds: sorted(counts.kinds),
    statuses: sorted(counts.statuses),
    findings: sorted(counts.findings),
    actors: [...actorCounts.slice(0, 5), ...actorCounts.slice(median - 2, median + 3)],
    medianActor: actorCounts[median]!,
  };
}

interface GeneratedRun {
  readonly runKey: string;
  readonly workflow: string;
  readonly kind: Kind;
  readonly status: 'compliant' | 'incomplete' | 'violation';
  readonly outcome: 'complete' | 'partial' | 'failed';
  readonly actorId: string;
  readonly actorIndex: number;
  readonly firstReceivedNs: bigint;
  readonly lastReceivedNs: bigint;
  readonly endNs: bigint;
  readonly evaluatedNs: bigint;
  readonly spanCount: number;
  readonly definition: string;
  readonly codes: readonly FindingCode[];
  readonly record: string;
}

function pickCodes(rng: Rng, cdf: Float64Array, table: ReadonlyArray<readonly [FindingCode, number]>, n: number, into: Set<FindingCode>): void {
  for (let tries = 0; into.size < n && tries < 10; tries++) into.add(table[sample(cdf, rng.next())]![0]);
}

function generateRun(
  rng: Rng,
  startNs: bigint,
  workflow: Workflow,
  actor: { index: number; id: string; type: string; authn: string },
  tables: { evidenceCdf: Float64Array; violationCdf: Float64Array },
): GeneratedRun {
  const runKey = uuid(rng);
  const traceId = rng.hex(32);
  const kind = workflow.kind;
  // Status first, then findings consistent with it (statusOf in findings.ts).
  const u = rng.next();
  const status = u < 0.85 ? 'compliant' : u < 0.97 ? 'incomplete' : 'violation';
  const codes = new Set<FindingCode>();
  if (status === 'violation') {
    pickCodes(rng, tables.violationCdf, VIOLATION_CODES, 1, codes);
    pickCodes(rng, tables.evidenceCdf, EVIDENCE_CODES, 1 + rng.int(3), codes);
  } else if (status === 'incomplete') {
    pickCodes(rng, tables.evidenceCdf, EVIDENCE_CODES, 1 + rng.int(3), codes);
  } else if (rng.next() < 0.02) {
    codes.add('definition_changed');
  }
  const outcome = codes.has('partial_change') ? 'partial' : status === 'incomplete' && rng.next() < 0.3 ? 'failed' : 'complete';
  const failed = outcome === 'failed';

  // Steps: root, the kind's steps, fillers up to 5-11 spans (mean 8).
  const stepCount = 5 + rng.int(7);
  const templates: StepTemplate[] = [...KIND_STEPS[kind]];
  while (templates.length < stepCount - 1) templates.push(FILLERS[rng.int(FILLERS.length)]!);
  templates.length = Math.min(templates.length, stepCount - 1);
  const rootSpanId = rng.hex(16);
  const durationNs = BigInt(Math.floor(2e9 + rng.next() ** 3 * 600e9));
  const endNs = startNs + durationNs;
  const decisionId = `dec-${rng.hex(12)}`;
  const policy = POLICIES[KINDS.indexOf(kind) % POLICIES.length]!;
  const target = `arn:aws:iam::123456789012:role/${workflow.name.split('/')[0]}-${rng.int(40)}`;
  const eventId = `evt-${rng.hex(12)}`;
  const requester = kind === 'jit_access' || rng.next() < 0.3 ? `user-${rng.int(500)}@example.com` : null;
  const triggerKind = TRIGGERS[rng.int(TRIGGERS.length)]!;
  const declared = failed ? 'failure' : 'success';

  const steps: Record<string, unknown>[] = [];
  steps.push({
    span_id: rootSpanId,
    parent_span_id: null,
    trace_id: traceId,
    name: workflow.name,
    type: 'other',
    root: true,
    service: `${kind.replace('_', '-')}-runner`,
    started_at: iso(startNs),
    ended_at: iso(endNs),
    start_ns: startNs.toString(),
    duration_ms: Number(durationNs) / 1e6,
    status: failed ? 'error' : 'ok',
    evidence: { 'actor.id': actor.id },
  });
  let at = startNs + 5_000_000n;
  const slice = durationNs / BigInt(templates.length + 1);
  templates.forEach((t, index) => {
    const d = BigInt(Math.floor(Number(slice) * (0.2 + rng.next() * 0.7)));
    const stepFailed = failed && index === templates.length - 1 && t.type !== 'decision';
    const evidence: Record<string, string> = {};
    if (t.type === 'decision') {
      evidence['decision.policy'] = policy;
      evidence['decision.result'] = status === 'violation' && codes.has('ungated_change') ? 'deny' : 'allow';
      evidence['decision.revision'] = String(40 + rng.int(3));
      evidence['decision.id'] = decisionId;
    } else if (t.type === 'change') {
      evidence['change.operation'] = t.operation!;
      evidence['change.target'] = target;
    } else if (t.type === 'tool_call') {
      evidence['tool.name'] = t.operation!;
      evidence['tool.call_id'] = `call_${rng.hex(12)}`;
    }
    if (stepFailed) evidence['failure.class'] = 'AccessDenied';
    steps.push({
      span_id: rng.hex(16),
      parent_span_id: rootSpanId,
      trace_id: traceId,
      name: t.name,
      type: t.type,
      service: t.service,
      started_at: iso(at),
      ended_at: iso(at + d),
      start_ns: at.toString(),
      duration_ms: Number(d) / 1e6,
      status: stepFailed ? 'error' : rng.next() < 0.5 ? 'ok' : 'unset',
      ...(stepFailed ? { status_message: 'AccessDenied: not authorized to perform this operation' } : {}),
      evidence,
      ...(t.type === 'change' || t.type === 'tool_call' ? { succeeded: !stepFailed } : {}),
    });
    at += slice;
  });

  const findings = [...codes].map((code) => {
    const info = FINDING_CODES[code];
    return {
      code,
      severity: info.severity,
      ...(code === 'missing_field' || code === 'invalid_field' ? { field: code === 'missing_field' ? 'requester.id' : 'actor.type' } : {}),
      ...(code === 'ungated_change' || code === 'partial_change' ? { span_id: steps[steps.length - 1]!.span_id as string } : {}),
      message: FINDING_MESSAGES[code] ?? info.meaning,
      controls: [...info.controls],
    };
  });
  const runEvidence: Record<string, string> = {
    'run.id': runKey,
    'run.workflow': workflow.name,
    'run.kind': kind,
    'run.definition': workflow.definition,
    'run.result': declared,
    'trigger.kind': triggerKind,
    'trigger.event_source': 'github',
    'trigger.event_id': eventId,
    'actor.id': actor.id,
    'actor.type': actor.type,
    'actor.authn': actor.authn,
    ...(requester !== null ? { 'requester.id': requester } : {}),
    'decision.policy': policy,
    'decision.result': 'allow',
    'decision.id': decisionId,
  };
  const lastReceivedNs = endNs + BigInt(rng.int(2_000)) * 1_000_000n;
  const evaluatedNs = lastReceivedNs + 2_000_000_000n;
  const triggerEvent = `github|${eventId}`;
  const record = JSON.stringify({
    run_id: runKey,
    revision: 1,
    workflow: workflow.name,
    kind,
    status,
    outcome,
    declared_result: declared,
    actor: { id: actor.id, type: actor.type, authn: actor.authn },
    requester_id: requester,
    trigger: { kind: triggerKind, event: triggerEvent },
    definition: workflow.definition,
    started_at: iso(startNs),
    ended_at: iso(endNs),
    root_span_id: rootSpanId,
    trace_ids: [traceId],
    span_count: steps.length,
    profiles: kind === 'ci_deploy' ? ['default'] : ['default', kind],
    reference: { inventory: null, catalogue: null },
    evidence: runEvidence,
    findings,
    steps,
    redactions: [],
    claims: { trigger_event: triggerEvent, decision_ids: [decisionId], definition: workflow.definition },
    evaluated_at: iso(evaluatedNs),
    reason: 'settled',
  });
  return {
    runKey,
    workflow: workflow.name,
    kind,
    status,
    outcome,
    actorId: actor.id,
    actorIndex: actor.index,
    firstReceivedNs: startNs + 40_000_000n,
    lastReceivedNs,
    endNs,
    evaluatedNs,
    spanCount: steps.length,
    definition: workflow.definition,
    codes: [...codes],
    record,
  };
}

/** Bytes of the store file and its WAL. */
export function storeBytes(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(`${path}${suffix}`).size;
    } catch {
      // no WAL between checkpoints
    }
  }
  return total;
}
