import { attributeText, type AttributeValue } from '../otlp/attributes.js';
import type { FieldKeys, FieldName } from './fields.js';
import type { RunSpan } from './run-input.js';

export type StepType = 'decision' | 'change' | 'tool_call' | 'other';
export type StepStatus = 'ok' | 'error' | 'unset';

/** One span of a run's history, as the CLI and API show it. */
export interface Step {
  readonly span_id: string;
  readonly parent_span_id: string | null;
  readonly trace_id: string;
  readonly name: string;
  readonly type: StepType;
  /** The run's root span. */
  readonly root?: true;
  readonly service: string | null;
  readonly started_at: string;
  readonly ended_at: string;
  readonly start_ns: string;
  readonly duration_ms: number;
  readonly status: StepStatus;
  readonly status_message?: string;
  /** Evidence fields this span carries (span attribute, else its resource). */
  readonly evidence: Partial<Record<FieldName, string>>;
  /** For changes and tool calls: whether this attempt succeeded. */
  readonly succeeded?: boolean;
  readonly events?: ReadonlyArray<{ name: string; time: string }>;
  /** For decisions: the policy as the catalogue knows it. */
  readonly policy?: StepPolicy;
}

export interface StepPolicy {
  readonly revision: string;
  readonly owner: string;
  readonly controls: readonly string[];
}

/**
 * A step as evaluation produces it and the store keeps it: the facts of a Step without the values
 * derived from them (time strings, duration), which stepView adds when a step is shown. Formatting
 * them for every span of every revision cost more than judging the run.
 */
export interface RunStep extends Omit<Step, 'started_at' | 'ended_at' | 'start_ns' | 'duration_ms' | 'events'> {
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly events?: ReadonlyArray<{ readonly name: string; readonly timeNs: bigint }>;
}

/** The Step the CLI and API show for a RunStep (key order is part of the public JSON). */
export function stepView(step: RunStep): Step {
  return {
    span_id: step.span_id,
    parent_span_id: step.parent_span_id,
    trace_id: step.trace_id,
    name: step.name,
    type: step.type,
    ...(step.root === true ? { root: true as const } : {}),
    service: step.service,
    started_at: isoTime(step.startNs),
    ended_at: isoTime(step.endNs),
    start_ns: step.startNs.toString(),
    duration_ms: Number(step.endNs - step.startNs) / 1e6,
    status: step.status,
    ...(step.status_message !== undefined ? { status_message: step.status_message } : {}),
    evidence: step.evidence,
    ...(step.succeeded !== undefined ? { succeeded: step.succeeded } : {}),
    ...(step.events !== undefined ? { events: step.events.map((e) => ({ name: e.name, time: isoTime(e.timeNs) })) } : {}),
    ...(step.policy !== undefined ? { policy: step.policy } : {}),
  };
}

/** Reads evidence fields from a span: span attributes first, then its resource (DESIGN §5). */
export class EvidenceReader {
  constructor(readonly keys: FieldKeys) {}

  read(field: FieldName, span: RunSpan): string | undefined {
    const keys = this.keys[field];
    for (const key of keys) {
      const text = attributeText(span.attributes[key]);
      if (text !== undefined && text !== '') return text;
    }
    for (const key of keys) {
      const text = attributeText(span.resource[key]);
      if (text !== undefined && text !== '') return text;
    }
    return undefined;
  }

  /** The raw attribute behind a field (for values that are not text). */
  raw(field: FieldName, span: RunSpan): AttributeValue | undefined {
    for (const key of this.keys[field]) {
      const value = span.attributes[key] ?? span.resource[key];
      if (value !== undefined) return value;
    }
    return undefined;
  }
}

const STEP_FIELDS: readonly FieldName[] = [
  'decision.policy',
  'decision.result',
  'decision.revision',
  'decision.id',
  'change.operation',
  'change.target',
  'tool.name',
  'tool.call_id',
  'failure.class',
  'actor.id',
];

export function isFailed(span: RunSpan, reader: EvidenceReader): boolean {
  return span.statusCode === 2 || reader.read('failure.class', span) !== undefined;
}

export function stepType(span: RunSpan, reader: EvidenceReader): StepType {
  if (reader.read('change.operation', span) !== undefined) return 'change';
  if (reader.read('decision.policy', span) !== undefined || reader.read('decision.result', span) !== undefined) {
    return 'decision';
  }
  if (reader.read('tool.operation', span) === 'execute_tool' || span.attributes['gen_ai.tool.name'] !== undefined) {
    return 'tool_call';
  }
  return 'other';
}

export function toStep(span: RunSpan, reader: EvidenceReader, isRoot = false, policy?: StepPolicy): RunStep {
  const type = stepType(span, reader);
  const evidence: Partial<Record<FieldName, string>> = {};
  for (const field of STEP_FIELDS) {
    // Step evidence comes from the span itself: a resource-wide value says nothing about this step.
    const value = spanOnly(reader, field, span);
    if (value !== undefined) evidence[field] = value;
  }
  const status: StepStatus = span.statusCode === 2 ? 'error' : span.statusCode === 1 ? 'ok' : 'unset';
  const step: { -readonly [K in keyof RunStep]: RunStep[K] } = {
    span_id: span.spanId,
    parent_span_id: span.parentSpanId === '' ? null : span.parentSpanId,
    trace_id: span.traceId,
    name: span.name,
    type,
    service: attributeText(span.resource['service.name']) ?? null,
    startNs: span.startNs,
    endNs: span.endNs,
    status,
    evidence,
  };
  if (isRoot) step.root = true;
  if (span.statusMessage !== '') step.status_message = span.statusMessage;
  if (type === 'change' || type === 'tool_call') step.succeeded = !isFailed(span, reader);
  if (span.events.length > 0) step.events = span.events.map((e) => ({ name: e.name, timeNs: e.timeNs }));
  if (policy !== undefined) step.policy = policy;
  return step;
}

function spanOnly(reader: EvidenceReader, field: FieldName, span: RunSpan): string | undefined {
  for (const key of reader.keys[field]) {
    const text = attributeText(span.attributes[key]);
    if (text !== undefined && text !== '') return text;
  }
  return undefined;
}

export function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** Deterministic history order: start time, then span id. */
export function byStart(a: RunSpan, b: RunSpan): number {
  if (a.startNs !== b.startNs) return a.startNs < b.startNs ? -1 : 1;
  return a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0;
}
