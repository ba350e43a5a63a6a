import { celAttributes, compileCel, holds } from './cel.js';
import { FIELD_NAMES, type FieldName } from './fields.js';
import { finding, statusOf, type Finding, type RunStatus } from './findings.js';
import type { ChangeRequirement, Profile } from './profiles.js';
import type { RunHistory, RunInput, RunSpan } from './run-input.js';
import { byStart, EvidenceReader, isFailed, isoTime, toStep, type Step } from './steps.js';

export type Outcome = 'complete' | 'partial' | 'failed';

/** A judged run: the record the store keeps for each revision and the CLI/API show. */
export interface RunVerdict {
  readonly run_id: string;
  readonly workflow: string | null;
  readonly kind: string | null;
  readonly status: RunStatus;
  readonly outcome: Outcome;
  readonly declared_result: string | null;
  readonly actor: { readonly id: string | null; readonly type: string | null; readonly authn: string | null };
  readonly requester_id: string | null;
  readonly trigger: { readonly kind: string | null; readonly event: string | null };
  readonly definition: string | null;
  readonly started_at: string | null;
  readonly ended_at: string | null;
  readonly root_span_id: string | null;
  readonly trace_ids: readonly string[];
  readonly span_count: number;
  readonly profiles: readonly string[];
  /** Run-level evidence fields that were found. */
  readonly evidence: Partial<Record<FieldName, string>>;
  readonly findings: readonly Finding[];
  readonly steps: readonly Step[];
  /** Keys this run claims, so later runs that reuse them are caught. */
  readonly claims: { readonly trigger_event: string | null; readonly decision_ids: readonly string[] };
}

export interface EvaluationContext {
  readonly reader: EvidenceReader;
  readonly profiles: ReadonlyMap<string, Profile>;
  /** Keys that make a span carry the run identity (see filter). */
  readonly identityKeys: readonly string[];
  readonly history: RunHistory;
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
  const root = findRoot(spans, ctx.identityKeys);
  // Run-level evidence: the root first, then the other spans in history order.
  const ordered = root === undefined ? spans : [root, ...spans.filter((s) => s !== root)];
  const runField = (field: FieldName): string | undefined => {
    for (const span of ordered) {
      const value = reader.read(field, span);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const evidence: Partial<Record<FieldName, string>> = {};
  for (const field of FIELD_NAMES) {
    const value = runField(field);
    if (value !== undefined) evidence[field] = value;
  }

  const kind = evidence['run.kind'];
  const profileNames = ['default', ...(kind !== undefined && kind !== 'default' && ctx.profiles.has(kind) ? [kind] : [])];
  const profiles = profileNames.map((name) => ctx.profiles.get(name)!);
  const profileControls = profiles.flatMap((p) => p.controls);
  const findings: Finding[] = [];

  if (root === undefined || input.rootMissing === true) {
    findings.push(finding('root_span_missing', 'no root span (a span carrying the run identity with no parent in the run) arrived'));
  }
  if (input.capped !== undefined) findings.push(finding('run_capped', input.capped));

  // Required fields and accepted values; fields about an action are required only once something acted.
  const requiredFields = new Set(profiles.flatMap((p) => p.required_fields));
  const actedFields = new Set(profiles.flatMap((p) => p.required_fields_if_acted));
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
  const decisions = spans.filter((s) => reader.read('decision.policy', s) !== undefined || reader.read('decision.result', s) !== undefined);
  for (const d of decisions) {
    for (const field of ['decision.policy', 'decision.result'] as const) {
      if (reader.read(field, d) === undefined) {
        findings.push(finding('missing_field', `decision "${d.name}" has no ${field}`, { field, span_id: d.spanId }));
      }
    }
  }
  const complete = decisions.filter((d) => reader.read('decision.policy', d) !== undefined && reader.read('decision.result', d) !== undefined);
  const allows = complete.filter((d) => reader.read('decision.result', d)?.toLowerCase() === 'allow');
  const denied = complete.some((d) => reader.read('decision.result', d)?.toLowerCase() === 'deny');
  // Changes: each span with an operation is an attempt; tool calls act for agents.
  const attempts: ChangeAttempt[] = [];
  for (const span of spans) {
    const operation = reader.read('change.operation', span);
    if (operation !== undefined) {
      attempts.push({ span, operation, target: reader.read('change.target', span), failed: isFailed(span, reader) });
      if (reader.read('change.target', span) === undefined) {
        findings.push(finding('missing_field', `change "${operation}" (${span.name}) has no target`, { field: 'change.target', span_id: span.spanId }));
      }
    } else if (reader.read('tool.operation', span) === 'execute_tool' || reader.read('tool.name', span) !== undefined) {
      const tool = reader.read('tool.name', span);
      if (tool === undefined) {
        findings.push(finding('missing_field', `tool call "${span.name}" has no gen_ai.tool.name`, { field: 'tool.name', span_id: span.spanId }));
      }
      attempts.push({ span, operation: 'execute_tool', target: tool, failed: isFailed(span, reader) });
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
  const required = profiles.flatMap((p) => p.required_changes);
  const shortfalls = requiredShortfalls(required, finals, attempts);
  for (const f of finals) {
    if (f.failed && !required.some((r) => r.operation === f.operation)) {
      shortfalls.push({ message: `${f.operation} of ${f.target ?? '(no target)'} failed`, spanId: f.span.spanId });
    }
  }
  const anySucceeded = finals.some((f) => !f.failed);
  let outcome: Outcome;
  if (attempts.length === 0) outcome = declaredFailure || required.length > 0 ? 'failed' : 'complete';
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

  const failed = outcome !== 'complete' || declaredFailure;
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
  const eventId = evidence['trigger.event_id'];
  const triggerEvent = eventId === undefined ? null : `${evidence['trigger.event_source'] ?? ''}|${eventId}`;
  if (triggerEvent !== null) {
    const other = ctx.history.runWithTrigger(triggerEvent, input.runKey);
    if (other !== undefined) {
      findings.push(finding('replayed_trigger', `trigger event ${describeEvent(evidence)} already started run ${other}`, { field: 'trigger.event_id' }));
    }
  }
  const decisionIds = [...new Set(decisions.map((d) => reader.read('decision.id', d)).filter((id): id is string => id !== undefined))];
  for (const id of decisionIds) {
    const other = ctx.history.runWithDecision(id, input.runKey);
    if (other !== undefined) {
      const span = decisions.find((d) => reader.read('decision.id', d) === id)!;
      findings.push(finding('reused_approval', `decision ${id} already authorised run ${other}`, { field: 'decision.id', span_id: span.spanId }));
    }
  }

  // Declarative constraints (CEL).
  const steps = spans.map((s) => toStep(s, reader, s === root));
  const constraintsContext = {
    run: evidence,
    steps: steps.map((s) => ({ name: s.name, type: s.type, status: s.status, operation: s.evidence['change.operation'] ?? '', target: s.evidence['change.target'] ?? '', succeeded: s.succeeded ?? false })),
    attributes: root === undefined ? {} : celAttributes({ ...root.resource, ...root.attributes }),
  };
  for (const profile of profiles) {
    for (const c of profile.constraints) {
      const result = holds(compileCel(c.expression), constraintsContext);
      if (!result.ok) {
        findings.push(finding('constraint_failed', result.error ? `${c.message} (${result.error})` : c.message, { severity: c.severity, controls: profileControls }));
      }
    }
  }

  return {
    run_id: input.runKey,
    workflow: evidence['run.workflow'] ?? null,
    kind: kind ?? null,
    status: statusOf(findings),
    outcome,
    declared_result: declared ?? null,
    actor: { id: evidence['actor.id'] ?? null, type: evidence['actor.type'] ?? null, authn: evidence['actor.authn'] ?? null },
    requester_id: evidence['requester.id'] ?? null,
    trigger: { kind: evidence['trigger.kind'] ?? null, event: triggerEvent },
    definition: evidence['run.definition'] ?? null,
    started_at: spans.length > 0 ? isoTime(minOf(spans.map((s) => s.startNs))) : null,
    ended_at: spans.length > 0 ? isoTime(maxOf(spans.map((s) => s.endNs))) : null,
    root_span_id: root?.spanId ?? null,
    trace_ids: [...new Set(spans.map((s) => s.traceId))],
    span_count: spans.length,
    profiles: profileNames,
    evidence,
    findings,
    steps,
    claims: { trigger_event: triggerEvent, decision_ids: decisionIds },
  };
}

/**
 * The root: a span carrying the run identity none of whose ancestors in the run carries it
 * (a workflow span may sit under a gateway span of the same trace). Earliest wins.
 */
export function findRoot(spans: readonly RunSpan[], identityKeys: readonly string[]): RunSpan | undefined {
  const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
  const carries = (s: RunSpan) => identityKeys.some((k) => s.attributes[k] !== undefined || s.resource[k] !== undefined);
  for (const span of spans) {
    if (!carries(span)) continue;
    let parent = span.parentSpanId === '' ? undefined : byId.get(`${span.traceId}/${span.parentSpanId}`);
    let ancestorCarries = false;
    for (let depth = 0; parent !== undefined && depth < spans.length; depth++) {
      if (carries(parent)) {
        ancestorCarries = true;
        break;
      }
      parent = parent.parentSpanId === '' ? undefined : byId.get(`${parent.traceId}/${parent.parentSpanId}`);
    }
    if (!ancestorCarries) return span;
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

const minOf = (xs: bigint[]) => xs.reduce((a, b) => (b < a ? b : a));
const maxOf = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a));
