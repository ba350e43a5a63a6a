import type { Catalogue } from '../enrich/catalogue.js';
import type { IdentityMatch, Inventory } from '../enrich/inventory.js';
import { attributeText } from '../otlp/attributes.js';
import type { RunIdentity } from '../runs/run-identity.js';
import { appliedProfiles, type AppliedProfiles } from './applied-profiles.js';
import { judgeChanges, type ChangeAttempt, type ChangeJudgement } from './changes.js';
import type { FieldKeys, FieldName } from './fields.js';
import type { Profile } from './profiles.js';
import { findRoot } from './run-root.js';
import type { RunHistory, RunInput, RunSpan } from './run-input.js';
import { byStart, repeatedToolCalls, SpanEvidence, type EvidenceReader, type StepActor } from './steps.js';

/** Snapshots of the reloadable reference data a run is judged against. */
export interface Enrichment {
  readonly inventory?: Inventory;
  readonly catalogue?: Catalogue;
}

export interface EvaluationContext {
  readonly reader: EvidenceReader;
  readonly profiles: ReadonlyMap<string, Profile>;
  /** What makes a span carry the run identity (shared with the filter). */
  readonly identity: RunIdentity;
  readonly history: RunHistory;
  readonly enrichment?: Enrichment;
}

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

/** A span carrying a policy decision (a policy id or a result). */
export interface DecisionFact {
  readonly span: RunSpan;
  readonly evidence: SpanEvidence;
  readonly policy: string | undefined;
  readonly result: string | undefined;
  readonly id: string | undefined;
  /** A check that failed (error status or failure.class): it decided nothing. */
  readonly failed: boolean;
  /** Names a policy and a result. */
  readonly complete: boolean;
  /** Complete, `allow`, and not failed: only such a decision authorises anything. */
  readonly allows: boolean;
  /** Complete and `deny`, failed or not: a check that reports a deny as an error still denied. */
  readonly denies: boolean;
}

/**
 * What judging knows about a run before any check runs: read once, shared by every check (each check
 * is a function from these facts to findings, see checks.ts).
 */
export interface RunFacts {
  readonly input: RunInput;
  /** In history order (start time, then span id). */
  readonly spans: readonly RunSpan[];
  readonly spanEvidence: readonly SpanEvidence[];
  readonly root: RunSpan | undefined;
  /** Run-level evidence: the root's fields first, then each span's in history order. */
  readonly evidence: Partial<Record<FieldName, string>>;
  readonly keys: FieldKeys;
  readonly kind: string | undefined;
  readonly profiles: AppliedProfiles;
  readonly decisions: readonly DecisionFact[];
  readonly changes: ChangeJudgement;
  /** The declared result says the run failed, or the root span has an error status. */
  readonly declaredFailure: boolean;
  readonly rootFailed: boolean;
  readonly startNs: bigint;
  /** `source|id` of the trigger event, when the run names one. */
  readonly triggerEvent: string | null;
  readonly actor: ActorView;
  /** The inventory's entry for the run's actor, when it has one. */
  readonly actorEntry: IdentityMatch | undefined;
  /** Steps that record an identity of their own, other than the run's actor, by span id. */
  readonly stepActors: ReadonlyMap<string, StepActor>;
  readonly history: RunHistory;
  readonly inventory: Inventory | undefined;
  readonly catalogue: Catalogue | undefined;
  /** The span's parent in the run, if it arrived. */
  parentOf(span: RunSpan): RunSpan | undefined;
}

/** Declared results that mean the run did not succeed (cicd.pipeline.result values and common words). */
const FAILURE_RESULTS = new Set(['failure', 'failed', 'error', 'timeout', 'cancellation', 'cancelled', 'canceled', 'denied']);

export function readRunFacts(input: RunInput, ctx: EvaluationContext): RunFacts {
  const { reader } = ctx;
  const spans = [...input.spans].sort(byStart);
  const root = findRoot(spans, ctx.identity);
  const spanEvidence = spans.map((span) => reader.evidenceOf(span));
  // The root first, then the other spans in history order (the root read again finds nothing new).
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
  const profiles = appliedProfiles(ctx.profiles, kind);
  const decisions = spanEvidence.filter((e) => e.read('decision.policy') !== undefined || e.read('decision.result') !== undefined).map(decisionFact);
  const attempts = changeAttempts(spanEvidence);
  const declared = evidence['run.result'];
  const rootFailed = root !== undefined && root.statusCode === 2;
  const declaredFailure = (declared !== undefined && FAILURE_RESULTS.has(declared.toLowerCase())) || rootFailed;
  const changes = judgeChanges(attempts, profiles, { declaredFailure, denied: decisions.some((d) => d.denies) });

  const eventId = evidence['trigger.event_id'];
  const { inventory, catalogue } = ctx.enrichment ?? {};
  const reportedActor = evidence['actor.id'];
  const actorEntry = reportedActor === undefined ? undefined : inventory?.resolve(reportedActor);
  const actor = actorView(evidence, inventory, actorEntry);

  let byId: Map<string, RunSpan> | undefined;
  return {
    input,
    spans,
    spanEvidence,
    root,
    evidence,
    keys: reader.keys,
    kind,
    profiles,
    decisions,
    changes,
    declaredFailure,
    rootFailed,
    startNs: spans[0]?.startNs ?? 0n,
    triggerEvent: eventId === undefined ? null : `${evidence['trigger.event_source'] ?? ''}|${eventId}`,
    actor,
    actorEntry,
    stepActors: stepActorsOf(spanEvidence, actor, reportedActor, inventory),
    history: ctx.history,
    inventory,
    catalogue,
    parentOf(span) {
      if (span.parentSpanId === '') return undefined;
      byId ??= new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
      return byId.get(`${span.traceId}/${span.parentSpanId}`);
    },
  };
}

function decisionFact(evidence: SpanEvidence): DecisionFact {
  const policy = evidence.read('decision.policy');
  const result = evidence.read('decision.result');
  const failed = evidence.isFailed();
  const complete = policy !== undefined && result !== undefined;
  const verdict = result?.toLowerCase();
  return {
    span: evidence.span,
    evidence,
    policy,
    result,
    id: evidence.read('decision.id'),
    failed,
    complete,
    allows: complete && verdict === 'allow' && !failed,
    denies: complete && verdict === 'deny',
  };
}

/**
 * Each span with an operation is a change attempt; a tool call acts for its agent like one, counted
 * once when two spans record it (an MCP client's and server's).
 */
function changeAttempts(spanEvidence: readonly SpanEvidence[]): ChangeAttempt[] {
  const attempts: ChangeAttempt[] = [];
  const repeated = repeatedToolCalls(spanEvidence);
  for (const e of spanEvidence) {
    const operation = e.read('change.operation');
    if (operation !== undefined) {
      attempts.push({ span: e.span, evidence: e, operation, target: e.read('change.target'), failed: e.isFailed(), toolCall: false });
    } else if (e.isToolCall() && !repeated.has(e)) {
      attempts.push({ span: e.span, evidence: e, operation: 'execute_tool', target: e.read('tool.name'), failed: e.isFailed(), toolCall: true });
    }
  }
  return attempts;
}

function actorView(evidence: Partial<Record<FieldName, string>>, inventory: Inventory | undefined, match: IdentityMatch | undefined): ActorView {
  const reported = evidence['actor.id'];
  const actor: ActorView = { id: reported ?? null, type: evidence['actor.type'] ?? null, authn: evidence['actor.authn'] ?? null };
  if (inventory === undefined || reported === undefined) return actor;
  if (match === undefined) return { ...actor, registered: false };
  return {
    id: match.id,
    type: actor.type ?? match.type,
    authn: actor.authn,
    ...(match.id !== reported ? { reported_id: reported } : {}),
    registered: true,
    owner: match.owner,
    team: match.team,
    tier: match.tier,
  };
}

/**
 * The steps that act as an identity of their own (the actor keys on the span, else its resource) other
 * than the run's actor, resolved like it. The same identity under another key form is the run's actor.
 */
function stepActorsOf(
  spanEvidence: readonly SpanEvidence[],
  runActor: ActorView,
  reportedRunActor: string | undefined,
  inventory: Inventory | undefined,
): Map<string, StepActor> {
  const actors = new Map<string, StepActor>();
  for (const e of spanEvidence) {
    const reported = e.read('actor.id');
    if (reported === undefined || reported === reportedRunActor) continue;
    const match = inventory?.resolve(reported);
    const id = match?.id ?? reported;
    if (id === runActor.id) continue;
    actors.set(e.span.spanId, {
      id,
      ...(id !== reported ? { reported_id: reported } : {}),
      ...(inventory !== undefined ? { registered: match !== undefined } : {}),
    });
  }
  return actors;
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
