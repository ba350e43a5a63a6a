/**
 * Workload of `npm run bench:runs` (runs.ts): OTLP requests of whole workflow runs of uniformly
 * `minSpansPerRun`..`maxSpansPerRun` spans, shaped so that evaluation does real work — each run has a
 * kind with a built-in profile (secret_rotation, jit_access, deprovisioning, agent_task) or only the
 * default one (ci_deploy), policy decisions, change steps, tool calls, and filler spans (HTTP, database,
 * internal phases) — plus the reference data that enrichment judges it against: a generated NHI
 * inventory whose keys include every actor the workload uses, and a policy catalogue with its
 * policies, agents and pinned workflow definitions (writeReferenceFiles).
 *
 * A few runs are deliberately flawed, as in production: an unregistered actor, a stale policy
 * revision, a denied or failed change, a tool outside the agent's boundary, a drifted definition.
 *
 * Requests are encoded once, before anything is timed, and stamped per send like workload.ts: every
 * trace id and every value that identifies one run or event (run id, trigger event id, decision id,
 * tool call id, request id) holds the request's sequence, so no two sends share a run or a claim.
 *
 * `orphanSpansPerRun` builds the other shape runs.ts needs: runs whose root never arrives — children
 * only, each carrying the run id (as an SDK propagating it in baggage does) under a root span id that
 * is never sent — which stay open until runs.max_open_ms.
 */
import { writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Rng, encodeSpans, keyValues, runTraceId, uniqueId, uniqueUuid, type AttrValue, type EncodedRequest, type UniqueIds } from './workload.js';

export interface RunsWorkloadShape {
  /** Spans per run (root included), drawn uniformly from min..max. */
  readonly minSpansPerRun: number;
  readonly maxSpansPerRun: number;
  /** Runs are whole: a request takes runs while it holds fewer spans than this. */
  readonly spansPerRequest: number;
  /** When set: runs of this many children carrying the run id and no root (never evaluated before max_open_ms). */
  readonly orphanSpansPerRun?: number;
}

export const DEFAULT_RUNS_SHAPE: RunsWorkloadShape = { minSpansPerRun: 5, maxSpansPerRun: 50, spansPerRequest: 512 };

export interface RunsRequest extends EncodedRequest {
  readonly runs: number;
  /** Spans per kind of step, for the workload description. */
  readonly stepCounts: Readonly<Record<StepKind, number>>;
}

type StepKind = 'root' | 'decision' | 'change' | 'tool_call' | 'filler';

// ---------------------------------------------------------------- the identities, policies and workflows

const ACCOUNTS = ['123456789012', '210987654321', '555566667777', '998877665544'];
const REGIONS = ['eu-west-1', 'us-east-1', 'us-west-2', 'ap-southeast-2'];
const NAMESPACES = ['payments', 'iam', 'platform', 'ci', 'data', 'support', 'billing', 'search'];
const TRUST_DOMAIN = 'prod.example.org';

type RunKind = 'secret_rotation' | 'jit_access' | 'deprovisioning' | 'agent_task' | 'ci_deploy';
type ActorClass = 'service_account' | 'aws_role' | 'ci_workload' | 'agent';

/** Kinds, their weight, the fewest children that carry their required steps, and who runs them. */
const KINDS: ReadonlyArray<{ kind: RunKind; weight: number; minChildren: number; actors: ActorClass }> = [
  { kind: 'secret_rotation', weight: 30, minChildren: 5, actors: 'service_account' },
  { kind: 'jit_access', weight: 20, minChildren: 2, actors: 'aws_role' },
  { kind: 'deprovisioning', weight: 15, minChildren: 4, actors: 'service_account' },
  { kind: 'agent_task', weight: 20, minChildren: 3, actors: 'agent' },
  { kind: 'ci_deploy', weight: 15, minChildren: 2, actors: 'ci_workload' },
];

/** Actors the workload uses, per class; all of them are in the generated inventory. */
const ACTOR_POOL: Readonly<Record<ActorClass, number>> = { service_account: 1000, aws_role: 400, ci_workload: 300, agent: 300 };

export const WORKLOAD_ACTORS = Object.values(ACTOR_POOL).reduce((a, b) => a + b, 0);

const AGENT_TOOLS = [
  'describe_resources',
  'get_metrics',
  'open_change_request',
  'search_tickets',
  'summarize',
  'create_comment',
  'rotate_access_key',
  'list_role_policies',
  'query_logs',
  'restart_deployment',
];

interface ActorIdentity {
  /** The id runs report (nhi.actor.id or gen_ai.agent.id). */
  readonly reported: (rng: Rng) => string;
  /** Canonical inventory id and the keys the inventory lists. */
  readonly id: string;
  readonly keys: readonly string[];
  /** The inventory's type, which runs also report as nhi.actor.type. */
  readonly type: 'service_account' | 'workload' | 'ai_agent';
  readonly authn: string;
}

function actorIdentity(cls: ActorClass, i: number): ActorIdentity {
  switch (cls) {
    case 'service_account': {
      const ns = NAMESPACES[i % NAMESPACES.length]!;
      const name = `${['secret-rotator', 'deprovisioner', 'key-janitor', 'cert-renewer'][i % 4]}-${i}`;
      // Reported by SPIFFE id; listed by its Kubernetes name (the trust domain maps one to the other).
      return {
        reported: () => `spiffe://${TRUST_DOMAIN}/ns/${ns}/sa/${name}`,
        id: `sa:${ns}/${name}`,
        keys: [`system:serviceaccount:${ns}:${name}`],
        type: 'service_account',
        authn: 'oidc:https://kubernetes.default.svc',
      };
    }
    case 'aws_role': {
      const account = ACCOUNTS[i % ACCOUNTS.length]!;
      const role = `jit-access-broker-${i}`;
      // Reported as an STS session; listed as the IAM role (with a path) it assumes.
      return {
        reported: (rng) => `arn:aws:sts::${account}:assumed-role/${role}/broker-${rng.hex(8)}`,
        id: `aws:${role}`,
        keys: [`arn:aws:iam::${account}:role/automation/${role}`],
        type: 'service_account',
        authn: 'aws:sts:AssumeRoleWithWebIdentity',
      };
    }
    case 'ci_workload': {
      const repo = `service-${i}`;
      const key = `spiffe://ci.example.org/github/example-org/${repo}/workflow/deploy`;
      return { reported: () => key, id: `workload:ci/${repo}`, keys: [key], type: 'workload', authn: 'oidc:https://token.actions.githubusercontent.com' };
    }
    case 'agent': {
      const name = `${['infra-copilot', 'support-triage', 'cost-optimizer', 'oncall-assistant'][i % 4]}-${i}`;
      return {
        reported: () => `${name}-v3`,
        id: `agent:${name}`,
        keys: [`${name}-v3`, `system:serviceaccount:agents:${name}`],
        type: 'ai_agent',
        authn: 'oidc:https://kubernetes.default.svc',
      };
    }
  }
}

/** An agent's approved tools: four of AGENT_TOOLS, fixed per agent. */
function approvedTools(i: number): string[] {
  return [0, 1, 2, 3].map((k) => AGENT_TOOLS[(i + k * 3) % AGENT_TOOLS.length]!);
}

const WORKFLOWS_PER_KIND = 10;
const workflowName = (kind: RunKind, i: number) => `${kind.replace(/_/g, '-')}/${['prod', 'staging', 'emea', 'apac', 'us'][i % 5]}-${i}`;
const definitionHash = (workflow: string) => `sha256:${createHash('sha256').update(workflow).digest('hex')}`;
/** Half the workflows are pinned to their definition in the catalogue. */
const isPinned = (i: number) => i % 2 === 0;

const POLICIES_PER_KIND = 8;
const policyId = (kind: RunKind, i: number) => `policy://opa/nhi/${kind.replace(/_/g, '-')}/${['default', 'prod', 'privileged', 'emergency'][i % 4]}-${i}`;
const policyRevision = (kind: RunKind, i: number) => String(3 + ((i * 7 + kind.length) % 20));

// ---------------------------------------------------------------- spans

type Attr = readonly [key: string, value: AttrValue];

interface SpanSpec {
  readonly kind: StepKind;
  readonly name: string;
  readonly spanKind: number;
  readonly attrs: Attr[];
  readonly failed?: string;
  readonly durationMs: number;
}

interface RunContext {
  readonly rng: Rng;
  readonly ids: UniqueIds;
  readonly kind: RunKind;
  readonly actor: string;
  readonly actorIndex: number;
  readonly region: string;
  readonly account: string;
}

function decision(ctx: RunContext, deny = false): SpanSpec {
  const { rng, kind } = ctx;
  const p = rng.int(POLICIES_PER_KIND);
  const id = policyId(kind, p);
  // 0.5% cite a revision the catalogue has moved past.
  const revision = rng.int(200) === 0 ? String(Number(policyRevision(kind, p)) - 1) : policyRevision(kind, p);
  return {
    kind: 'decision',
    name: `policy.evaluate ${id.slice(id.lastIndexOf('/') + 1)}`,
    spanKind: 3,
    durationMs: 1 + rng.int(8),
    attrs: [
      ['nhi.policy.id', id],
      ['nhi.policy.decision', deny ? 'deny' : 'allow'],
      ['nhi.policy.decision_id', uniqueUuid(ctx.ids, rng)],
      ['nhi.policy.revision', revision],
      ['nhi.policy.engine', 'opa/0.68.0'],
      ['server.address', 'opa.policy-system.svc.cluster.local'],
      ['server.port', 8181],
      ['nhi.policy.input.resource', `arn:aws:iam::${ctx.account}:role/${kind}-target-${rng.hex(6)}`],
    ],
  };
}

function change(ctx: RunContext, operation: string, extra: Attr[] = [], failed = false): SpanSpec {
  const { rng, region, account } = ctx;
  const target =
    operation === 'grant'
      ? `arn:aws:iam::${account}:role/break-glass-${rng.hex(4)}`
      : `arn:aws:secretsmanager:${region}:${account}:secret:${ctx.kind}/${rng.hex(8)}`;
  return {
    kind: 'change',
    name: `${operation} ${target.slice(target.lastIndexOf(':') + 1)}`,
    spanKind: 3,
    durationMs: 5 + rng.int(120),
    attrs: [
      ['nhi.change.operation', operation],
      ['nhi.change.target', target],
      ['cloud.provider', 'aws'],
      ['cloud.region', region],
      ['rpc.system', 'aws-api'],
      ['rpc.service', operation === 'grant' ? 'IAM' : 'SecretsManager'],
      ['rpc.method', { create: 'PutSecretValue', distribute: 'UpdateSecretVersionStage', revoke: 'DeleteAccessKey', verify: 'DescribeSecret', grant: 'AttachRolePolicy', disable: 'UpdateLoginProfile', apply: 'UpdateStack' }[operation] ?? 'Invoke'],
      ['aws.request_id', uniqueUuid(ctx.ids, rng)],
      ...(failed ? ([['error.type', 'ThrottlingException']] as Attr[]) : []),
      ...extra,
    ],
    ...(failed ? { failed: 'Rate exceeded' } : {}),
  };
}

function toolCall(ctx: RunContext, tool: string): SpanSpec {
  const { rng } = ctx;
  return {
    kind: 'tool_call',
    name: `execute_tool ${tool}`,
    spanKind: 1,
    durationMs: 20 + rng.int(400),
    attrs: [
      ['gen_ai.operation.name', 'execute_tool'],
      ['gen_ai.tool.name', tool],
      ['gen_ai.tool.call.id', uniqueId(ctx.ids, rng, 10, 'call_')],
      ['gen_ai.tool.type', 'function'],
      ['gen_ai.agent.id', ctx.actor],
      ['gen_ai.system', 'anthropic'],
    ],
  };
}

function filler(ctx: RunContext): SpanSpec {
  const { rng } = ctx;
  const pick = rng.int(10);
  if (pick < 5) {
    const host = rng.pick(['vault.internal.example.org', 'api.github.com', `sts.${ctx.region}.amazonaws.com`, 'inventory.platform.svc']);
    const method = rng.pick(['GET', 'GET', 'POST', 'PUT']);
    return {
      kind: 'filler',
      name: method,
      spanKind: 3,
      durationMs: 2 + rng.int(60),
      attrs: [
        ['http.request.method', method],
        ['url.full', `https://${host}/v1/${rng.pick(['objects', 'repos', 'sessions', 'items'])}/${rng.hex(10)}`],
        ['server.address', host],
        ['server.port', 443],
        ['http.response.status_code', rng.int(40) === 0 ? 404 : 200],
        ['network.protocol.version', '1.1'],
      ],
    };
  }
  if (pick < 8) {
    return {
      kind: 'filler',
      name: 'SELECT inventory',
      spanKind: 3,
      durationMs: 1 + rng.int(10),
      attrs: [
        ['db.system.name', 'postgresql'],
        ['db.namespace', 'nhi_inventory'],
        ['db.operation.name', 'SELECT'],
        ['db.query.text', 'SELECT id, owner, last_used_at FROM credentials WHERE owner_id = $1 AND state = $2'],
        ['server.address', 'pg-inventory.data.svc'],
        ['db.response.returned_rows', rng.int(20)],
      ],
    };
  }
  return {
    kind: 'filler',
    name: rng.pick(['plan', 'validate inputs', 'render manifest', 'wait for propagation']),
    spanKind: 1,
    durationMs: 1 + rng.int(30),
    attrs: [
      ['code.function.name', rng.pick(['plan', 'validate', 'render', 'wait'])],
      ['code.namespace', 'nhi.workflow.steps'],
      ['nhi.step.attempt', 1],
    ],
  };
}

/** The children of one run: its kind's required steps first, then a realistic mix up to `children`. */
function runChildren(ctx: RunContext, children: number, failing: boolean): SpanSpec[] {
  const { rng, kind } = ctx;
  const deny = rng.int(100) === 0;
  const out: SpanSpec[] = [decision(ctx, deny)];
  const failAt = failing ? 1 + rng.int(Math.max(1, children - 1)) : -1;
  const extraChange = (): SpanSpec => {
    switch (kind) {
      case 'secret_rotation':
        return change(ctx, 'distribute');
      case 'deprovisioning':
        return change(ctx, 'revoke');
      case 'agent_task': {
        // 2% of agent calls fall outside the agent's approved tools.
        const tools = approvedTools(ctx.actorIndex);
        return toolCall(ctx, rng.int(50) === 0 ? 'delete_stack' : rng.pick(tools));
      }
      default:
        return change(ctx, 'apply');
    }
  };
  switch (kind) {
    case 'secret_rotation':
      out.push(change(ctx, 'create'), change(ctx, 'distribute'), change(ctx, 'revoke'), change(ctx, 'verify'));
      break;
    case 'jit_access':
      out.push(change(ctx, 'grant', [['nhi.grant.expires_at', new Date(Date.now() + 3_600_000).toISOString()]]));
      break;
    case 'deprovisioning':
      out.push(change(ctx, 'disable'), change(ctx, 'revoke'), change(ctx, 'verify', [['nhi.credentials.active', 0]]));
      break;
    case 'agent_task':
      out.push(extraChange(), change(ctx, 'apply'));
      break;
    case 'ci_deploy':
      out.push(change(ctx, 'apply'));
      break;
  }
  while (out.length < children) {
    const r = rng.int(20);
    out.push(r < 4 ? decision(ctx) : r < 10 ? extraChange() : filler(ctx));
  }
  if (failAt >= 0) {
    const i = out.findIndex((s, k) => k >= failAt && s.kind === 'change');
    const at = i >= 0 ? i : out.findIndex((s) => s.kind === 'change');
    const victim = out[at]!;
    const operation = victim.attrs.find(([k]) => k === 'nhi.change.operation')![1] as string;
    out[at] = change(ctx, operation, [], true);
  }
  return out;
}

function rootSpec(ctx: RunContext, workflow: number, failing: boolean, ids: UniqueIds): SpanSpec {
  const { rng, kind } = ctx;
  const identity = actorIdentity(KINDS.find((k) => k.kind === kind)!.actors, ctx.actorIndex);
  const name = workflowName(kind, workflow);
  // 0.5% of runs carry a definition that drifted from the pinned (or previous) one.
  const definition = rng.int(200) === 0 ? `sha256:${rng.hex(64)}` : definitionHash(name);
  const attrs: Attr[] = [
    ['nhi.workflow.run.id', uniqueId(ids, rng, 8, 'wfr_')],
    ['nhi.workflow.name', name],
    ['nhi.workflow.kind', kind],
    ['nhi.workflow.definition.hash', definition],
    ['nhi.actor.id', ctx.actor],
    ['nhi.actor.type', identity.type],
    ['nhi.actor.authn', identity.authn],
    ['nhi.trigger.kind', rng.pick(['schedule', 'webhook', 'manual', 'event'])],
    ['cloudevents.event_source', `//${kind.replace(/_/g, '-')}.scheduler.platform.svc`],
    ['nhi.trigger.event_id', uniqueUuid(ids, rng)],
    ['nhi.workflow.result', failing ? 'failure' : 'success'],
  ];
  if (kind === 'jit_access') attrs.push(['nhi.requester.id', `user:oncall-${rng.hex(6)}@example.org`]);
  if (failing) attrs.push(['error.type', 'ThrottlingException']);
  return { kind: 'root', name: `workflow ${name}`, spanKind: 1, attrs, durationMs: 0, ...(failing ? { failed: 'a change step failed' } : {}) };
}

function pickKind(rng: Rng, children: number): (typeof KINDS)[number] {
  const fitting = KINDS.filter((k) => k.minChildren <= children);
  const total = fitting.reduce((a, k) => a + k.weight, 0);
  let r = rng.int(total);
  for (const k of fitting) {
    if (r < k.weight) return k;
    r -= k.weight;
  }
  return fitting[0]!;
}

/** Actor of a run: from its class's pool; 1% are identities the inventory does not know. */
function pickActor(rng: Rng, cls: ActorClass): { index: number; reported: string } {
  const index = rng.int(ACTOR_POOL[cls]);
  if (rng.int(100) === 0) return { index, reported: `spiffe://${TRUST_DOMAIN}/ns/sandbox/sa/unregistered-${rng.hex(6)}` };
  return { index, reported: actorIdentity(cls, index).reported(rng) };
}

/**
 * Builds and encodes one request of whole runs (or, with `orphanSpansPerRun`, of rootless runs). Within
 * a run, children come first and the root last, as an SDK exports spans when they end.
 */
export function buildRunsRequest(shape: RunsWorkloadShape, templateIndex: number, seed: number): RunsRequest {
  const rng = new Rng(seed * 7919 + templateIndex * 104729 + 7);
  const salt = new Rng(seed + 0x5eed).bytes(4);
  const ids: UniqueIds = { mark: rng.hex(12), count: 0 };
  const baseNs = BigInt(Date.now() - 120_000) * 1_000_000n;
  const traceIds: Buffer[] = [];
  const spans: Record<string, unknown>[] = [];
  const stepCounts: Record<StepKind, number> = { root: 0, decision: 0, change: 0, tool_call: 0, filler: 0 };
  let uniqueValues = 0;
  let attributeBytes = 0;
  let attributeCount = 0;
  let runs = 0;

  const emit = (traceId: Buffer, spec: SpanSpec, fields: Record<string, unknown>) => {
    for (const [key, value] of spec.attrs) {
      if (typeof value === 'string' && value.includes(ids.mark)) uniqueValues++;
      attributeBytes += key.length + String(value).length + 6;
      attributeCount++;
    }
    stepCounts[spec.kind]++;
    spans.push({
      traceId,
      name: spec.name,
      kind: spec.spanKind,
      attributes: keyValues(spec.attrs),
      status: spec.failed !== undefined ? { code: 2, message: spec.failed } : spec.kind === 'root' ? { code: 1 } : {},
      ...fields,
    });
  };

  for (let run = 0; spans.length < shape.spansPerRequest; run++) {
    const traceId = runTraceId(salt, templateIndex, run);
    traceIds.push(traceId);
    runs++;
    const rootId = rng.bytes(8);
    const runStart = baseNs + BigInt(run) * 1_000_000_000n;

    if (shape.orphanSpansPerRun !== undefined) {
      const kindSpec = pickKind(rng, 5);
      const actor = pickActor(rng, kindSpec.actors);
      const ctx: RunContext = { rng, ids, kind: kindSpec.kind, actor: actor.reported, actorIndex: actor.index, region: rng.pick(REGIONS), account: rng.pick(ACCOUNTS) };
      const runId = uniqueId(ids, rng, 8, 'wfr_');
      const workflow = workflowName(ctx.kind, rng.int(WORKFLOWS_PER_KIND));
      let t = runStart;
      for (let c = 0; c < shape.orphanSpansPerRun; c++) {
        const spec = c === 0 ? decision(ctx) : change(ctx, 'apply');
        const attrs: Attr[] = [['nhi.workflow.run.id', runId], ['nhi.workflow.name', workflow], ...spec.attrs];
        const end = t + BigInt(spec.durationMs) * 1_000_000n;
        emit(traceId, { ...spec, attrs }, { spanId: rng.bytes(8), parentSpanId: rootId, startTimeUnixNano: t.toString(), endTimeUnixNano: end.toString() });
        t = end + 100_000n;
      }
      continue;
    }

    const length = shape.minSpansPerRun + rng.int(shape.maxSpansPerRun - shape.minSpansPerRun + 1);
    const children = length - 1;
    const kindSpec = pickKind(rng, children);
    const actor = pickActor(rng, kindSpec.actors);
    const ctx: RunContext = { rng, ids, kind: kindSpec.kind, actor: actor.reported, actorIndex: actor.index, region: rng.pick(REGIONS), account: rng.pick(ACCOUNTS) };
    const failing = rng.int(50) === 0;
    const specs = runChildren(ctx, children, failing);
    const spanIds = specs.map(() => rng.bytes(8));
    let t = runStart + 1_000_000n;
    for (let c = 0; c < specs.length; c++) {
      const spec = specs[c]!;
      const end = t + BigInt(spec.durationMs) * 1_000_000n;
      emit(traceId, spec, { spanId: spanIds[c], parentSpanId: rootId, startTimeUnixNano: t.toString(), endTimeUnixNano: end.toString() });
      t = end + 200_000n;
    }
    const root = rootSpec(ctx, rng.int(WORKFLOWS_PER_KIND), failing, ids);
    emit(traceId, root, { spanId: rootId, startTimeUnixNano: runStart.toString(), endTimeUnixNano: (t + 1_000_000n).toString() });
  }

  return {
    ...encodeSpans(spans, traceIds, { seed, templateIndex, mark: ids.mark, textFields: uniqueValues }),
    meanAttributeBytes: attributeBytes / attributeCount,
    runs,
    stepCounts,
  };
}

// ---------------------------------------------------------------- reference files

/**
 * Writes a JSON NHI inventory of `identities` entries — every actor the workload uses (with the keys it
 * is reported by, in other spellings where the inventory normalises them), then realistic others — and
 * a JSON policy catalogue with the workload's policies, agents and pinned workflows.
 */
export function writeReferenceFiles(inventoryPath: string, cataloguePath: string, identities = 10_000): { identities: number; policies: number; agents: number; workflows: number } {
  const list: Array<Record<string, unknown>> = [];
  const owner = (i: number) => `team-${i % 97}@example.org`;
  for (const cls of Object.keys(ACTOR_POOL) as ActorClass[]) {
    for (let i = 0; i < ACTOR_POOL[cls]; i++) {
      const a = actorIdentity(cls, i);
      list.push({ id: a.id, type: a.type, owner: owner(i), team: `team-${i % 97}`, tier: ['standard', 'privileged', 'critical'][i % 3], keys: a.keys });
    }
  }
  for (let i = 0; list.length < identities; i++) {
    const ns = NAMESPACES[i % NAMESPACES.length]!;
    switch (i % 4) {
      case 0:
        list.push({ id: `sa:${ns}/svc-${i}`, type: 'service_account', owner: owner(i), team: `team-${i % 97}`, tier: 'standard', keys: [`system:serviceaccount:${ns}:svc-${i}`] });
        break;
      case 1:
        list.push({ id: `aws:app-role-${i}`, type: 'service_account', owner: owner(i), team: `team-${i % 97}`, tier: 'privileged', keys: [`arn:aws:iam::${ACCOUNTS[i % 4]}:role/apps/app-role-${i}`] });
        break;
      case 2:
        list.push({ id: `apikey:integration-${i}`, type: 'api_key', owner: owner(i), team: `team-${i % 97}`, tier: 'standard', keys: [`key-${i.toString(16).padStart(8, '0')}`] });
        break;
      default:
        list.push({ id: `workload:batch/${ns}-${i}`, type: 'workload', owner: owner(i), team: `team-${i % 97}`, tier: 'standard', keys: [`spiffe://batch.example.org/${ns}/job-${i}`] });
    }
  }
  writeFileSync(inventoryPath, JSON.stringify({ spiffe_trust_domains: [TRUST_DOMAIN], identities: list }));

  const policies: Array<Record<string, unknown>> = [];
  const workflows: Array<Record<string, unknown>> = [];
  for (const { kind } of KINDS) {
    for (let p = 0; p < POLICIES_PER_KIND; p++) {
      policies.push({ id: policyId(kind, p), revision: policyRevision(kind, p), owner: owner(p), controls: ['NHI5', 'PR.AA-05'] });
    }
    for (let w = 0; w < WORKFLOWS_PER_KIND; w++) {
      const name = workflowName(kind, w);
      workflows.push(isPinned(w) ? { name, pinned_definition: definitionHash(name) } : { name });
    }
  }
  const agents = Array.from({ length: ACTOR_POOL.agent }, (_, i) => ({ agent_id: actorIdentity('agent', i).id, approved_tools: approvedTools(i) }));
  writeFileSync(cataloguePath, JSON.stringify({ policies, agents, workflows }));
  return { identities: list.length, policies: policies.length, agents: agents.length, workflows: workflows.length };
}
