import { celAttributes, compileCel, holds } from './cel.js';
import type { FieldName } from './fields.js';
import { finding, statusOf, type Finding, type RunStatus } from './findings.js';
import type { ChangeRequirement, Profile } from './profiles.js';
import { appliedProfiles } from './applied-profiles.js';
import type { RunHistory, RunInput, RunSpan } from './run-input.js';
import type { Catalogue } from '../enrich/catalogue.js';
import { continuesCaller } from '../runs/root.js';
import type { RunIdentity } from '../runs/run-identity.js';
import type { Inventory } from '../enrich/inventory.js';
import { attributeText } from '../otlp/attributes.js';
import { byStart, EvidenceReader, isoTime, repeatedToolCalls, toStep, SpanEvidence, type RunStep } from './steps.js';

export type Outcome = 'complete' | 'partial' | 'failed';

/** The acting identity: as reported, and as the NHI inventory knows it when one is configured. */
export interface ActorView {
  readonly id: string | null;
  readonly type: string | null;
  readonly authn: string | null;
  /** The id the run reported, when the inventory mapped it to another canonical id. */
  readonly reported_id?: string;
  readonly registered?: boolean;
  readonly owner?: string;
  readonly team?: string;
  readonly tier?: string;
}

/** Snapshots of the reloadable reference data a run is judged against. */
export interface Enrichment {
  readonly inventory?: Inventory;
  readonly catalogue?: Catalogue;
}

/** A judged run: the record the store keeps for each revision and the CLI/API show. */
export interface RunVerdict {
  readonly run_id: string;
  readonly workflow: string | null;
  readonly kind: string | null;
  readonly status: RunStatus;
  readonly outcome: Outcome;
  readonly declared_result: string | null;
  readonly actor: ActorView;
  readonly requester_id: string | null;
  readonly trigger: { readonly kind: string | null; readonly event: string | null };
  readonly definition: string | null;
  readonly started_at: string | null;
  readonly ended_at: string | null;
  readonly root_span_id: string | null;
  readonly trace_ids: readonly string[];
  readonly span_count: number;
  readonly profiles: readonly string[];
  /** Revisions of the inventory and catalogue this run was judged against. */
  readonly reference: { readonly inventory: string | null; readonly catalogue: string | null };
  /** Run-level evidence fields that were found. */
  readonly evidence: Partial<Record<FieldName, string>>;
  readonly findings: readonly Finding[];
  /** Stored compactly (see step-record.ts) and shown as Steps (stepView). */
  readonly steps: readonly RunStep[];
  /** What was erased before storage, per span (OPA-style masking record): never the values. */
  readonly redactions: ReadonlyArray<{ readonly span_id: string; readonly target: string; readonly key: string; readonly reason: string }>;
  /** Keys this run claims, so later runs that reuse them are caught. */
  readonly claims: { readonly trigger_event: string | null; readonly decision_ids: readonly string[]; readonly definition: string | null };
}

export interface EvaluationContext {
  readonly reader: EvidenceReader;
  readonly profiles: ReadonlyMap<string, Profile>;
  /** What makes a span carry the run identity (shared with the filter). */
  readonly identity: RunIdentity;
  readonly history: RunHistory;
  readonly enrichment?: Enrichment;
}

/** Declared results that mean the run did not succeed (cicd.pipeline.result values and common words). */
const FAILURE_RESULTS = new Set(['failure', 'failed', 'error', 'timeout', 'cancellation', 'cancelled', 'canceled', 'denied']);

interface ChangeAttempt {
  readonly span: RunSpan;
  readonly operation: string;
  readonly target: string | undefined;
  readonly failed: boolean;
}

/** Judges one run against the default profile and the profile of its kind. Pure but for `history`. */
export function evaluateRun(input: RunInput, ctx: EvaluationContext): RunVerdict {
  const { reader } = ctx;
  const spans = [...input.spans].sort(byStart);
  const root = findRoot(spans, ctx.identity);
  const spanEvidence = spans.map((span) => reader.evidenceOf(span));
  // Run-level evidence: the root first, then the other spans in history order (the root read again finds nothing new).
  const rootEvidence = spanEvidence.find((e) => e.span === root);
  const evidence = SpanEvidence.runEvidence(rootEvidence, spanEvidence);

  // The root span's status stands in for a declared result it does not carry (DESIGN §5 table).
  if (evidence['run.result'] === undefined && root !== undefined && root.statusCode !== 0) {
    evidence['run.result'] = root.statusCode === 2 ? 'error' : 'ok';
  }
  // An SDK's recorded exception stands in for error.type on a failed span (root first): many
  // instrumentations (Temporal's among them) set only the status and an `exception` event.
  if (evidence['failure.class'] === undefined) {
    const exceptionType = (root === undefined ? undefined : exceptionTypeOf(root)) ?? firstDefined(spans, exceptionTypeOf);
    if (exceptionType !== undefined) evidence['failure.class'] = exceptionType;
  }

  const kind = evidence['run.kind'];
  const applied = appliedProfiles(ctx.profiles, kind);
  const { profiles, controls: profileControls, requiredFields, actedFields, requiredChanges: required, constraints } = applied;
  const findings: Finding[] = [];

  if (root === undefined || input.rootMissing === true) {
    findings.push(finding('root_span_missing', 'no root span (a span carrying the run identity with no parent in the run) arrived'));
  }
  if (input.capped !== undefined) findings.push(finding('run_capped', input.capped));

  // Required fields and accepted values; fields about an action are required only once something acted.
  for (const field of requiredFields) {
    if (evidence[field] === undefined) {
      findings.push(finding('missing_field', `${field} is missing (looked for ${reader.keys[field].join(', ')})`, { field }));
    }
  }
  for (const profile of profiles) {
    for (const [field, accepted] of Object.entries(profile.field_values) as Array<[FieldName, string[]]>) {
      const value = evidence[field];
      if (value !== undefined && !accepted.includes(value)) {
        findings.push(finding('invalid_field', `${field} is "${value}", expected ${accepted.join(' or ')}`, { field }));
      }
    }
  }
  const expiresAt = evidence['grant.expires_at'];
  if (expiresAt !== undefined && parseInstant(expiresAt) === undefined) {
    findings.push(finding('invalid_field', `grant.expires_at "${expiresAt}" is neither RFC 3339 nor unix nanoseconds`, { field: 'grant.expires_at' }));
  }

  // Decisions.
  const decisions = spanEvidence.filter((e) => e.read('decision.policy') !== undefined || e.read('decision.result') !== undefined);
  for (const d of decisions) {
    for (const field of ['decision.policy', 'decision.result'] as const) {
      // A policy check that failed (timed out, unreachable) decided nothing: it owes no result.
      if (d.read(field) === undefined && !(field === 'decision.result' && d.isFailed())) {
        findings.push(finding('missing_field', `decision "${d.span.name}" has no ${field}`, { field, span_id: d.span.spanId }));
      }
    }
  }
  const complete = decisions.filter((d) => d.read('decision.policy') !== undefined && d.read('decision.result') !== undefined);
  const allows = complete.filter((d) => d.read('decision.result')?.toLowerCase() === 'allow');
  const denied = complete.some((d) => d.read('decision.result')?.toLowerCase() === 'deny');
  // Changes: each span with an operation is an attempt; tool calls act for agents.
  const attempts: ChangeAttempt[] = [];
  const repeated = repeatedToolCalls(spanEvidence);
  for (const e of spanEvidence) {
    const { span } = e;
    const operation = e.read('change.operation');
    if (operation !== undefined) {
      const target = e.read('change.target');
      attempts.push({ span, operation, target, failed: e.isFailed() });
      if (target === undefined) {
        findings.push(finding('missing_field', `change "${operation}" (${span.name}) has no target`, { field: 'change.target', span_id: span.spanId }));
      }
    } else if (e.isToolCall() && !repeated.has(e)) {
      const tool = e.read('tool.name');
      if (tool === undefined) {
        findings.push(finding('missing_field', `tool call "${span.name}" has no gen_ai.tool.name`, { field: 'tool.name', span_id: span.spanId }));
      }
      attempts.push({ span, operation: 'execute_tool', target: tool, failed: e.isFailed() });
    }
  }
  const finals = finalAttempts(attempts);
  if (finals.some((f) => !f.failed)) {
    for (const field of actedFields) {
      if (evidence[field] === undefined && !requiredFields.has(field)) {
        findings.push(finding('missing_field', `${field} is missing although a change succeeded (looked for ${reader.keys[field].join(', ')})`, { field }));
      }
    }
  }
  const decisionRule = strongest(profiles.map((p) => p.require_decision));
  if (decisionRule === 'any' && complete.length === 0) {
    findings.push(finding('missing_decision', 'no policy decision with a policy id and a result was recorded', { field: 'decision.policy' }));
  } else if (decisionRule === 'allow' && allows.length === 0 && !(denied && attempts.length === 0)) {
    findings.push(finding('missing_decision', 'no allow decision was recorded', { field: 'decision.result', controls: profileControls }));
  }


  const declared = evidence['run.result'];
  const rootFailed = root !== undefined && root.statusCode === 2;
  const declaredFailure = (declared !== undefined && FAILURE_RESULTS.has(declared.toLowerCase())) || rootFailed;
  const failedBeforeActing = attempts.length === 0 && (declaredFailure || denied);

  if (profiles.some((p) => p.require_change) && attempts.length === 0 && !failedBeforeActing) {
    findings.push(finding('missing_change', 'no change step (nhi.change.operation and a target) was recorded', { field: 'change.operation' }));
  }

  // Outcome, from the change steps and the profiles' required operations.
  const shortfalls = requiredShortfalls(required, finals, attempts);
  for (const f of finals) {
    if (f.failed && !required.some((r) => r.operation === f.operation)) {
      shortfalls.push({ message: `${f.operation} of ${f.target ?? '(no target)'} failed`, spanId: f.span.spanId });
    }
  }
  const anySucceeded = finals.some((f) => !f.failed);
  let outcome: Outcome;
  // DESIGN §5: failed when no change succeeded — unless no profile asks this run to change anything.
  if (attempts.length === 0) outcome = declaredFailure || required.length > 0 || profiles.some((p) => p.require_change) ? 'failed' : 'complete';
  else if (!anySucceeded) outcome = 'failed';
  else outcome = shortfalls.length > 0 ? 'partial' : 'complete';

  if (outcome === 'partial') {
    for (const s of shortfalls) {
      findings.push(finding('partial_change', s.message, { field: 'change.operation', controls: profileControls, ...(s.spanId ? { span_id: s.spanId } : {}) }));
    }
  }
  if (outcome === 'failed' && attempts.length > 0 && !failedBeforeActing && required.length > 0 && !declaredFailure) {
    findings.push(finding('partial_change', 'no change step succeeded', { field: 'change.operation', controls: profileControls }));
  }

  // A partial run is explained by its partial_change findings; a failed one must say why it failed.
  const failed = outcome === 'failed' || declaredFailure;
  if (failed && profiles.some((p) => p.failure_class_on_failure) && evidence['failure.class'] === undefined) {
    findings.push(finding('missing_field', 'the run did not complete but carries no failure.class (error.type)', { field: 'failure.class' }));
  }
  if (declared !== undefined || rootFailed) {
    const declaredOk = !declaredFailure;
    if (declaredOk && outcome !== 'complete') {
      findings.push(finding('declared_result_mismatch', `declared "${declared ?? 'ok'}" but the change steps show outcome ${outcome}`, { field: 'run.result' }));
    } else if (!declaredOk && outcome === 'complete' && attempts.length > 0) {
      findings.push(finding('declared_result_mismatch', `declared "${declared ?? 'error'}" but every change step succeeded`, { field: 'run.result', severity: 'info' }));
    }
  }

  // Gated changes: a successful change needs an allow decision.
  if (profiles.some((p) => p.gate_changes_on_allow) && allows.length === 0) {
    for (const f of finals.filter((a) => !a.failed)) {
      findings.push(finding('ungated_change', `${f.operation} of ${f.target ?? '(no target)'} succeeded without an allow decision`, { span_id: f.span.spanId, controls: profileControls }));
    }
  }

  // Replay and reuse: keys already used by a different run. Retries inside this run are not replays.
  // Spans are in history order: the first started first.
  const runStartNs = spans[0]?.startNs ?? 0n;
  const eventId = evidence['trigger.event_id'];
  const triggerEvent = eventId === undefined ? null : `${evidence['trigger.event_source'] ?? ''}|${eventId}`;
  if (triggerEvent !== null) {
    const other = ctx.history.runWithTrigger(triggerEvent, input.runKey, runStartNs);
    if (other !== undefined) {
      findings.push(finding('replayed_trigger', `trigger event ${describeEvent(evidence)} already started run ${other}`, { field: 'trigger.event_id' }));
    }
  }
  const decisionIds = [...new Set(decisions.map((d) => d.read('decision.id')).filter((id): id is string => id !== undefined))];
  for (const id of decisionIds) {
    const other = ctx.history.runWithDecision(id, input.runKey, runStartNs);
    if (other !== undefined) {
      const span = decisions.find((d) => d.read('decision.id') === id)!.span;
      findings.push(finding('reused_approval', `decision ${id} already authorised run ${other}`, { field: 'decision.id', span_id: span.spanId }));
    }
  }

  // Enrichment: who the actor is, which policies and tools it was allowed, which definition ran.
  const { inventory, catalogue } = ctx.enrichment ?? {};
  const reportedActor = evidence['actor.id'];
  let actor: ActorView = { id: reportedActor ?? null, type: evidence['actor.type'] ?? null, authn: evidence['actor.authn'] ?? null };
  if (inventory !== undefined && reportedActor !== undefined) {
    const match = inventory.resolve(reportedActor);
    if (match === undefined) {
      actor = { ...actor, registered: false };
      findings.push(finding('unregistered_identity', `actor ${reportedActor} is not in the NHI inventory (revision ${inventory.revision})`, { field: 'actor.id' }));
    } else {
      actor = {
        id: match.id,
        type: actor.type ?? match.type,
        authn: actor.authn,
        ...(match.id !== reportedActor ? { reported_id: reportedActor } : {}),
        registered: true,
        owner: match.owner,
        team: match.team,
        tier: match.tier,
      };
      if (evidence['actor.type'] !== undefined && evidence['actor.type'] !== match.type) {
        findings.push(finding('invalid_field', `actor.type is "${evidence['actor.type']}" but the inventory registers ${match.id} as ${match.type}`, { field: 'actor.type' }));
      }
    }
  }
  const policyOf = new Map<string, { revision: string; owner: string; controls: readonly string[] }>();
  if (catalogue !== undefined) {
    for (const decision of complete) {
      const d = decision.span;
      const policyId = decision.read('decision.policy')!;
      const entry = catalogue.policy(policyId);
      if (entry === undefined) {
        findings.push(finding('unknown_policy', `decision "${d.name}" cites policy ${policyId}, which the catalogue does not list`, { field: 'decision.policy', span_id: d.spanId }));
        continue;
      }
      policyOf.set(d.spanId, { revision: entry.revision, owner: entry.owner, controls: entry.controls });
      const cited = decision.read('decision.revision');
      if (cited !== undefined && cited !== entry.revision) {
        findings.push(
          finding('policy_revision_mismatch', `decision "${d.name}" used ${policyId} revision ${cited}; the catalogue's current revision is ${entry.revision}`, {
            field: 'decision.revision',
            span_id: d.spanId,
            controls: entry.controls,
          }),
        );
      }
    }
    const toolCalls = attempts.filter((a) => a.operation === 'execute_tool');
    if (toolCalls.length > 0) findings.push(...toolBoundaryFindings(toolCalls, spanEvidence, [actor.id, evidence['actor.id']], catalogue, inventory));
  }
  const workflow = evidence['run.workflow'];
  const definition = evidence['run.definition'];
  const pinned = workflow === undefined ? undefined : catalogue?.pinnedDefinition(workflow);
  if (pinned !== undefined) {
    if (definition === undefined) {
      findings.push(finding('missing_field', `workflow ${workflow} is pinned to definition ${pinned} but the run carries none`, { field: 'run.definition' }));
    } else if (definition !== pinned) {
      findings.push(finding('definition_drift', `definition ${definition} differs from the pinned ${pinned}`, { field: 'run.definition' }));
    }
  } else if (workflow !== undefined && definition !== undefined) {
    const previous = ctx.history.lastDefinition(workflow, input.runKey, runStartNs);
    if (previous !== undefined && previous.definition !== definition) {
      findings.push(finding('definition_changed', `definition changed from ${previous.definition} (run ${previous.runKey}) to ${definition}`, { field: 'run.definition' }));
    }
  }

  const steps = spanEvidence.map((e) => toStep(e, e.span === root, policyOf.get(e.span.spanId)));

  // Declarative constraints (CEL). Their context is built only when a profile has some: the built-ins have none.
  if (constraints.length > 0) {
    const constraintsContext = {
      run: evidence,
      steps: steps.map((s) => ({ name: s.name, type: s.type, status: s.status, operation: s.evidence['change.operation'] ?? '', target: s.evidence['change.target'] ?? '', succeeded: s.succeeded ?? false })),
      attributes: root === undefined ? {} : celAttributes({ ...root.resource, ...root.attributes }),
    };
    for (const c of constraints) {
      const result = holds(compileCel(c.expression), constraintsContext);
      if (!result.ok) {
        findings.push(finding('constraint_failed', result.error ? `${c.message} (${result.error})` : c.message, { severity: c.severity, controls: profileControls }));
      }
    }
  }

  const redactions: Array<RunVerdict['redactions'][number]> = [];
  for (const span of spans) {
    for (const r of span.redactions) redactions.push({ span_id: span.spanId, ...r });
  }

  return {
    run_id: input.runKey,
    workflow: evidence['run.workflow'] ?? null,
    kind: kind ?? null,
    status: statusOf(findings),
    outcome,
    declared_result: declared ?? null,
    actor,
    requester_id: evidence['requester.id'] ?? null,
    trigger: { kind: evidence['trigger.kind'] ?? null, event: triggerEvent },
    definition: evidence['run.definition'] ?? null,
    started_at: spans.length > 0 ? isoTime(runStartNs) : null,
    ended_at: spans.length > 0 ? isoTime(maxOf(spans.map((s) => s.endNs))) : null,
    root_span_id: root?.spanId ?? null,
    trace_ids: [...new Set(spans.map((s) => s.traceId))],
    span_count: spans.length,
    profiles: applied.names,
    reference: { inventory: inventory?.revision ?? null, catalogue: catalogue?.revision ?? null },
    evidence,
    findings,
    steps,
    redactions,
    claims: { trigger_event: triggerEvent, decision_ids: decisionIds, definition: definition ?? null },
  };
}

/**
 * The root: a span carrying the run identity none of whose ancestors in the run carries it
 * (a workflow span may sit under a gateway span of the same trace). Earliest wins.
 */
export function findRoot(spans: readonly RunSpan[], identity: RunIdentity): RunSpan | undefined {
  for (const top of topSpans(spans, identity)) return top;
  return undefined;
}

/**
 * Whether a run still waits for its own top span. Each top span (see topSpans) is followed up through
 * the spans of the run: it is anchored when that reaches a span without a parent or one continuing a
 * caller. When none is, and two or more hang under one parent that has not arrived, that parent is the
 * run's top span, still running: Temporal's RunWorkflow is exported when the workflow ends, while the
 * client's StartWorkflow that starts the trace ended at once. A single top span under a missing parent
 * is judged as it is: that parent may be a span exported elsewhere.
 */
export function awaitsRoot(spans: readonly RunSpan[], identity: RunIdentity): boolean {
  // Built only past the usual answer: the first top span has no parent.
  let byId: Map<string, RunSpan> | undefined;
  const missingParents = new Set<string>();
  let shared = false;
  for (const top of topSpans(spans, identity)) {
    let highest = top;
    for (let depth = 0; depth < spans.length; depth++) {
      if (highest.parentSpanId === '' || continuesCaller(highest.kind)) return false;
      byId ??= new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
      const parent = byId.get(`${highest.traceId}/${highest.parentSpanId}`);
      if (parent === undefined) break;
      highest = parent;
    }
    const missing = `${highest.traceId}/${highest.parentSpanId}`;
    if (missingParents.has(missing)) shared = true;
    missingParents.add(missing);
  }
  return shared;
}

/** The spans carrying the run identity with no such ancestor in the run (DESIGN §4), in the given order. */
function* topSpans(spans: readonly RunSpan[], identity: RunIdentity): Generator<RunSpan, void, undefined> {
  // Built only when a span carrying the identity has a parent: usually the earliest is the root.
  let byId: Map<string, RunSpan> | undefined;
  const parentOf = (s: RunSpan): RunSpan | undefined => {
    if (s.parentSpanId === '') return undefined;
    byId ??= new Map(spans.map((x) => [`${x.traceId}/${x.spanId}`, x]));
    return byId.get(`${s.traceId}/${s.parentSpanId}`);
  };
  const carries = (s: RunSpan) => identity.carries(s, s.resource);
  for (const span of spans) {
    if (!carries(span)) continue;
    let parent = parentOf(span);
    let ancestorCarries = false;
    for (let depth = 0; parent !== undefined && depth < spans.length; depth++) {
      if (carries(parent)) {
        ancestorCarries = true;
        break;
      }
      parent = parentOf(parent);
    }
    if (!ancestorCarries) yield span;
  }
}

/**
 * Each tool call against the approved tools of the agent it acted for: the nearest span at or above
 * it that names an agent (after a handoff, another agent with tools of its own), else the run's actor
 * or any agent the run names. An agent is looked up by the id it reported and by its inventory id.
 */
function toolBoundaryFindings(
  toolCalls: readonly ChangeAttempt[],
  spanEvidence: readonly SpanEvidence[],
  runActors: ReadonlyArray<string | null | undefined>,
  catalogue: Catalogue,
  inventory: Inventory | undefined,
): Finding[] {
  type Boundary = { agent: string; tools: ReadonlySet<string> };
  const boundaryOf = (id: string | null | undefined): Boundary | undefined => {
    if (id == null) return undefined;
    for (const agent of [id, inventory?.resolve(id)?.id]) {
      if (agent === undefined) continue;
      const tools = catalogue.approvedTools(agent);
      if (tools !== undefined) return { agent, tools };
    }
    return undefined;
  };
  const bySpan = new Map(spanEvidence.map((e) => [`${e.span.traceId}/${e.span.spanId}`, e]));
  const nearestAgent = (span: RunSpan): string | undefined => {
    let e = bySpan.get(`${span.traceId}/${span.spanId}`);
    for (let depth = 0; e !== undefined && depth <= spanEvidence.length; depth++) {
      const agent = e.ownText('actor.id');
      if (agent !== undefined) return agent;
      e = e.span.parentSpanId === '' ? undefined : bySpan.get(`${e.span.traceId}/${e.span.parentSpanId}`);
    }
    return undefined;
  };
  // The run's boundary, looked up once and only when a call's own agent has none.
  let runBoundary: { found: Boundary | undefined } | undefined;
  const runLevel = () =>
    (runBoundary ??= { found: [...runActors, ...spanEvidence.map((e) => e.read('actor.id'))].map(boundaryOf).find((b) => b !== undefined) }).found;
  const findings: Finding[] = [];
  const unbounded = new Set<string>();
  for (const call of toolCalls) {
    const agent = nearestAgent(call.span);
    const boundary = boundaryOf(agent) ?? runLevel();
    if (boundary === undefined) {
      unbounded.add(agent ?? runActors.find((id) => id != null) ?? '(unknown)');
    } else if (call.target !== undefined && !boundary.tools.has(call.target)) {
      findings.push(finding('tool_outside_boundary', `agent ${boundary.agent} called tool ${call.target}, outside its approved tools`, { field: 'tool.name', span_id: call.span.spanId }));
    }
  }
  for (const agent of unbounded) {
    findings.push(finding('agent_boundary_missing', `no approved tool set for agent ${agent} in the policy catalogue`, { field: 'actor.id' }));
  }
  return findings;
}

/** The type of the exception a failed span recorded last (OTel `exception` event), if any. */
function exceptionTypeOf(span: RunSpan): string | undefined {
  if (span.statusCode !== 2) return undefined;
  for (let i = span.events.length - 1; i >= 0; i--) {
    const event = span.events[i]!;
    const type = event.name === 'exception' ? attributeText(event.attributes['exception.type']) : undefined;
    if (type !== undefined && type !== '') return type;
  }
  return undefined;
}

function firstDefined<T, R>(items: readonly T[], fn: (item: T) => R | undefined): R | undefined {
  for (const item of items) {
    const result = fn(item);
    if (result !== undefined) return result;
  }
  return undefined;
}

/** The last attempt of each (operation, target): a retry that succeeded makes the change succeed. */
function finalAttempts(attempts: readonly ChangeAttempt[]): ChangeAttempt[] {
  const last = new Map<string, ChangeAttempt>();
  for (const a of attempts) {
    const key = `${a.operation}\u0000${a.target ?? ''}`;
    const prev = last.get(key);
    if (prev === undefined || a.span.endNs >= prev.span.endNs) last.set(key, a);
  }
  return [...last.values()];
}

function requiredShortfalls(
  required: readonly ChangeRequirement[],
  finals: readonly ChangeAttempt[],
  attempts: readonly ChangeAttempt[],
): Array<{ message: string; spanId?: string }> {
  const out: Array<{ message: string; spanId?: string }> = [];
  for (const req of required) {
    const ofOp = finals.filter((f) => f.operation === req.operation);
    const why = req.message === undefined ? '' : `: ${req.message}`;
    if (ofOp.length === 0) {
      out.push({ message: `required ${req.operation} step is absent${why}` });
      continue;
    }
    if (req.must_succeed) {
      for (const f of ofOp.filter((a) => a.failed)) {
        out.push({ message: `required ${req.operation} of ${f.target ?? '(no target)'} failed${why}`, spanId: f.span.spanId });
      }
    }
    if (req.expect !== undefined) {
      const lastAttempt = attempts.filter((a) => a.operation === req.operation).sort((a, b) => byStart(a.span, b.span)).at(-1)!;
      const span = lastAttempt.span;
      const result = holds(compileCel(req.expect), {
        attributes: celAttributes({ ...span.resource, ...span.attributes }),
        name: span.name,
        status: span.statusCode === 2 ? 'error' : span.statusCode === 1 ? 'ok' : 'unset',
      });
      if (!result.ok) out.push({ message: `${req.operation} does not show the change took${why}`, spanId: span.spanId });
    }
  }
  return out;
}

function strongest(rules: ReadonlyArray<'none' | 'any' | 'allow'>): 'none' | 'any' | 'allow' {
  return rules.includes('allow') ? 'allow' : rules.includes('any') ? 'any' : 'none';
}

function describeEvent(evidence: Partial<Record<FieldName, string>>): string {
  const source = evidence['trigger.event_source'];
  return source === undefined ? `${evidence['trigger.event_id']}` : `${source}/${evidence['trigger.event_id']}`;
}

/** RFC 3339 or unix nanoseconds → epoch ms; undefined when neither. */
export function parseInstant(value: string): number | undefined {
  if (/^\d{16,20}$/.test(value)) return Number(BigInt(value) / 1_000_000n);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

const maxOf = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a));
