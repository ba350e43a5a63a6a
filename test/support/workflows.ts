import { randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';

/**
 * Builders that emit a workflow run through a real OpenTelemetry tracer, the way an instrumented
 * workflow engine would: one root span carrying the run identity, decision and change spans under it.
 */

/** One span to emit, with its children nested as the workflow would nest them. */
export interface StepSpec {
  readonly name: string;
  readonly attributes?: Attributes;
  readonly kind?: SpanKind;
  /** `error` sets span status ERROR (a failed attempt), `ok` sets OK; absent leaves it UNSET. */
  readonly status?: 'ok' | 'error';
  readonly statusMessage?: string;
  /** Recorded as the SDK's `exception` event (exception.type, exception.message) before the span ends. */
  readonly exception?: { readonly type: string; readonly message: string };
  readonly children?: readonly StepSpec[];
}

/** What the evidence of a run says, in words; undefined leaves the attribute out. */
export interface RunFields {
  readonly runId?: string | undefined;
  readonly workflow?: string | undefined;
  readonly kind?: string | undefined;
  readonly result?: string | undefined;
  readonly triggerKind?: string | undefined;
  readonly eventSource?: string | undefined;
  readonly eventId?: string | undefined;
  readonly actorId?: string | undefined;
  readonly actorType?: string | undefined;
  readonly actorAuthn?: string | undefined;
  readonly requesterId?: string | undefined;
  readonly grantExpiresAt?: string | undefined;
  readonly errorType?: string | undefined;
}

const FIELD_KEYS: Readonly<Record<keyof RunFields, string>> = {
  runId: 'nhi.workflow.run.id',
  workflow: 'nhi.workflow.name',
  kind: 'nhi.workflow.kind',
  result: 'nhi.workflow.result',
  triggerKind: 'nhi.trigger.kind',
  eventSource: 'cloudevents.event_source',
  eventId: 'cloudevents.event_id',
  actorId: 'nhi.actor.id',
  actorType: 'nhi.actor.type',
  actorAuthn: 'nhi.actor.authn',
  requesterId: 'nhi.requester.id',
  grantExpiresAt: 'nhi.grant.expires_at',
  errorType: 'error.type',
};

/** The attributes of a run's root span; fields left undefined are not emitted. */
export function runAttributes(fields: RunFields): Attributes {
  const out: Attributes = {};
  for (const [name, key] of Object.entries(FIELD_KEYS) as Array<[keyof RunFields, string]>) {
    const value = fields[name];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** A run id unique to this test process, readable in failure messages. */
export const newRunId = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

export interface DecisionOptions {
  readonly id?: string;
  readonly name?: string;
  readonly errorType?: string;
  readonly attributes?: Attributes;
}

/** A policy decision point: `nhi.policy.id` + `nhi.policy.decision`; undefined leaves either out. */
export function decision(policy: string | undefined, result: 'allow' | 'deny' | undefined, options: DecisionOptions = {}): StepSpec {
  return {
    name: options.name ?? `policy ${policy ?? 'check'}`,
    attributes: {
      ...(policy !== undefined ? { 'nhi.policy.id': policy } : {}),
      ...(result !== undefined ? { 'nhi.policy.decision': result } : {}),
      ...(options.id !== undefined ? { 'nhi.policy.decision_id': options.id } : {}),
      ...(options.errorType !== undefined ? { 'error.type': options.errorType } : {}),
      ...options.attributes,
    },
  };
}

export interface ChangeOptions {
  readonly name?: string;
  /** The attempt failed: span status ERROR, with `error.type` when given. */
  readonly failed?: boolean;
  readonly errorType?: string;
  readonly attributes?: Attributes;
}

/** A change on a resource: `nhi.change.operation` + `nhi.change.target`. */
export function change(operation: string, target: string | undefined, options: ChangeOptions = {}): StepSpec {
  return {
    name: options.name ?? `${operation} ${target ?? ''}`.trim(),
    attributes: {
      'nhi.change.operation': operation,
      ...(target !== undefined ? { 'nhi.change.target': target } : {}),
      ...(options.errorType !== undefined ? { 'error.type': options.errorType } : {}),
      ...options.attributes,
    },
    ...(options.failed === true || options.errorType !== undefined ? { status: 'error' as const } : {}),
  };
}

/** An agent tool call (`gen_ai.operation.name` execute_tool), as GenAI semantic conventions name it. */
export function toolCall(tool: string | undefined, options: ChangeOptions & { callId?: string } = {}): StepSpec {
  return {
    name: options.name ?? `execute_tool ${tool ?? ''}`.trim(),
    kind: SpanKind.INTERNAL,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      ...(tool !== undefined ? { 'gen_ai.tool.name': tool } : {}),
      'gen_ai.tool.call.id': options.callId ?? `call_${randomUUID().slice(0, 12)}`,
      ...(options.errorType !== undefined ? { 'error.type': options.errorType } : {}),
      ...options.attributes,
    },
    ...(options.failed === true || options.errorType !== undefined ? { status: 'error' as const } : {}),
  };
}

/** A root span named for its workflow, carrying the run fields and the steps below it. */
export function workflowRoot(fields: RunFields, children: readonly StepSpec[], extra: Omit<StepSpec, 'name' | 'children'> & { name?: string } = {}): StepSpec {
  return {
    ...extra,
    name: extra.name ?? `workflow ${fields.workflow ?? fields.runId ?? 'run'}`,
    attributes: { ...runAttributes(fields), ...extra.attributes },
    children,
  };
}

/**
 * Hands out strictly increasing span times (1 ms apart) so a run's history order, and which attempt
 * of a retried step came last, do not depend on how fast the test machine is.
 */
export class StepClock {
  private ms: number;

  constructor(startMs: number = Date.now() - 60_000) {
    this.ms = startMs;
  }

  next(): Date {
    this.ms += 1;
    return new Date(this.ms);
  }
}

export interface EmittedSpan {
  readonly name: string;
  readonly spanId: string;
  readonly traceId: string;
}

export interface EmittedRun {
  readonly traceId: string;
  readonly rootSpanId: string;
  /** Every emitted span, in start order. */
  readonly spans: readonly EmittedSpan[];
  /** The root's context, to emit late children or call another service under it. */
  readonly rootContext: Context;
  spanId(name: string): string;
  /** Ends the root when `deferRootEnd` held it open (so its children are exported first); else a no-op. */
  endRoot(): void;
}

export interface EmitOptions {
  /** The context to start the root under: ROOT_CONTEXT (a new trace) unless given. */
  readonly parent?: Context;
  readonly clock?: StepClock;
  /** Leave the root open until `endRoot()`: the SDK exports the children without it. */
  readonly deferRootEnd?: boolean;
}

/** Starts and ends every span of `root` (children inside their parent's time), in order. */
export function emitRun(tracer: Tracer, root: StepSpec, options: EmitOptions = {}): EmittedRun {
  const clock = options.clock ?? new StepClock();
  const spans: EmittedSpan[] = [];
  let rootSpan: Span | undefined;
  let endRoot: () => void = () => undefined;
  const emit = (spec: StepSpec, parent: Context): void => {
    const span = tracer.startSpan(spec.name, { kind: spec.kind ?? SpanKind.INTERNAL, attributes: spec.attributes ?? {}, startTime: clock.next() }, parent);
    rootSpan ??= span;
    const { traceId, spanId } = span.spanContext();
    spans.push({ name: spec.name, spanId, traceId });
    const own = trace.setSpan(parent, span);
    for (const child of spec.children ?? []) emit(child, own);
    const end = () => {
      if (spec.exception !== undefined) span.recordException({ name: spec.exception.type, message: spec.exception.message }, clock.next());
      if (spec.status === 'error') span.setStatus({ code: SpanStatusCode.ERROR, ...(spec.statusMessage !== undefined ? { message: spec.statusMessage } : {}) });
      if (spec.status === 'ok') span.setStatus({ code: SpanStatusCode.OK });
      span.end(clock.next());
    };
    if (span === rootSpan && options.deferRootEnd === true) endRoot = end;
    else end();
  };
  emit(root, options.parent ?? ROOT_CONTEXT);
  const first = rootSpan!.spanContext();
  return {
    traceId: first.traceId,
    rootSpanId: first.spanId,
    spans,
    rootContext: trace.setSpan(options.parent ?? ROOT_CONTEXT, rootSpan!),
    endRoot: () => endRoot(),
    spanId(name: string): string {
      const found = spans.find((s) => s.name === name);
      if (found === undefined) throw new Error(`no span named "${name}" was emitted (have ${spans.map((s) => s.name).join(', ')})`);
      return found.spanId;
    },
  };
}

/** A W3C `traceparent` header for a context, as a propagator injects it into an outgoing call. */
export function traceparentOf(ctx: Context): string {
  const spanContext = trace.getSpanContext(ctx);
  if (spanContext === undefined) throw new Error('the context holds no span');
  return `00-${spanContext.traceId}-${spanContext.spanId}-0${spanContext.traceFlags & TraceFlags.SAMPLED}`;
}

/** The remote parent context a receiving service extracts from a `traceparent` header. */
export function contextFromTraceparent(header: string): Context {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header);
  if (match === null) throw new Error(`not a traceparent: ${header}`);
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16),
    isRemote: true,
  });
}
