import type { FieldName } from './fields.js';
import { stepView, type RunStep, type Step, type StepActor, type StepPolicy, type StepStatus, type StepType } from './steps.js';

/**
 * How a revision record stores its steps: one JSON array per step instead of an object, so the keys
 * are not repeated for every span (they were most of a record, and a record is written for every
 * revision). What the run's record already says is not repeated either:
 *
 *   [span_id, parent, trace, name, type, service, start, duration, status, evidence, extras?]
 *
 * - parent: null (no parent), 0 (the run's root_span_id) or the parent span id;
 * - trace: index into the record's trace_ids (or the trace id itself);
 * - service: 0 when the same as the previous step's, else the service name or null;
 * - start: the first step's start in unix nanoseconds as a decimal string; after it, nanoseconds since
 *   the previous step's start as a number (a string again, absolute, when that is not a safe integer);
 * - duration: nanoseconds from start to end as a number (a decimal string when not a safe integer);
 * - extras: only what a step has beyond these: root, status_message, succeeded, events ([name, unix
 *   nanoseconds as a string]), policy, actor.
 *
 * The time strings and duration in milliseconds the CLI and API show are derived when the record is
 * read (decodeSteps → stepView). Records whose steps are objects (written before this format) are
 * shown as stored.
 */
export type StoredStep = [
  spanId: string,
  parent: string | null | 0,
  trace: number | string,
  name: string,
  type: StepType,
  service: string | null | 0,
  start: number | string,
  duration: number | string,
  status: StepStatus,
  evidence: Partial<Record<FieldName, string>>,
  extras?: StepExtras,
];

interface StepExtras {
  root?: true;
  status_message?: string;
  succeeded?: boolean;
  events?: Array<[name: string, timeNs: string]>;
  policy?: StepPolicy;
  actor?: StepActor;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A nanosecond difference as a JSON number when exact, else as a decimal string. */
function nsNumber(ns: bigint): number | string {
  return ns <= MAX_SAFE && ns >= -MAX_SAFE ? Number(ns) : ns.toString();
}

export function encodeSteps(steps: readonly RunStep[], rootSpanId: string | null, traceIds: readonly string[]): StoredStep[] {
  const traceIndex = new Map<string, number>();
  for (let i = 0; i < traceIds.length; i++) if (!traceIndex.has(traceIds[i]!)) traceIndex.set(traceIds[i]!, i);
  const out: StoredStep[] = [];
  let previous: RunStep | undefined;
  for (const step of steps) {
    const parent = step.parent_span_id === null ? null : step.parent_span_id === rootSpanId ? 0 : step.parent_span_id;
    const start = previous === undefined ? step.startNs.toString() : nsNumber(step.startNs - previous.startNs);
    const tuple: StoredStep = [
      step.span_id,
      parent,
      traceIndex.get(step.trace_id) ?? step.trace_id,
      step.name,
      step.type,
      previous !== undefined && previous.service === step.service ? 0 : step.service,
      // A delta that is not a number is written absolute (a string), which decodeSteps tells apart.
      typeof start === 'string' && previous !== undefined ? step.startNs.toString() : start,
      nsNumber(step.endNs - step.startNs),
      step.status,
      step.evidence,
    ];
    const extras: StepExtras = {};
    let hasExtras = false;
    if (step.root === true) hasExtras = extras.root = true;
    if (step.status_message !== undefined) {
      extras.status_message = step.status_message;
      hasExtras = true;
    }
    if (step.succeeded !== undefined) {
      extras.succeeded = step.succeeded;
      hasExtras = true;
    }
    if (step.events !== undefined) {
      extras.events = step.events.map((e) => [e.name, e.timeNs.toString()]);
      hasExtras = true;
    }
    if (step.policy !== undefined) {
      extras.policy = step.policy;
      hasExtras = true;
    }
    if (step.actor !== undefined) {
      extras.actor = step.actor;
      hasExtras = true;
    }
    if (hasExtras) tuple.push(extras);
    out.push(tuple);
    previous = step;
  }
  return out;
}

export function decodeStoredSteps(stored: readonly StoredStep[], rootSpanId: string | null, traceIds: readonly string[]): RunStep[] {
  const out: RunStep[] = [];
  let previous: RunStep | undefined;
  for (const [spanId, parent, trace, name, type, service, start, duration, status, evidence, extras] of stored) {
    const startNs = typeof start === 'string' || previous === undefined ? BigInt(start) : previous.startNs + BigInt(start);
    const step: { -readonly [K in keyof RunStep]: RunStep[K] } = {
      span_id: spanId,
      parent_span_id: parent === 0 ? rootSpanId : parent,
      trace_id: typeof trace === 'number' ? traceIds[trace]! : trace,
      name,
      type,
      service: service === 0 ? (previous?.service ?? null) : service,
      startNs,
      endNs: startNs + BigInt(duration),
      status,
      evidence,
    };
    if (extras !== undefined) {
      if (extras.root === true) step.root = true;
      if (extras.status_message !== undefined) step.status_message = extras.status_message;
      if (extras.succeeded !== undefined) step.succeeded = extras.succeeded;
      if (extras.events !== undefined) step.events = extras.events.map(([eventName, timeNs]) => ({ name: eventName, timeNs: BigInt(timeNs) }));
      if (extras.policy !== undefined) step.policy = extras.policy;
      if (extras.actor !== undefined) step.actor = extras.actor;
    }
    out.push(step);
    previous = step;
  }
  return out;
}

/**
 * The steps of a stored record as the CLI and API show them: compact steps expanded, steps stored
 * as objects (records written before the compact format) unchanged.
 */
export function stepsOfRecord(record: Readonly<Record<string, unknown>>): Step[] | undefined {
  const { steps } = record;
  if (!Array.isArray(steps)) return undefined;
  if (steps.length === 0 || !Array.isArray(steps[0])) return steps as Step[];
  const rootSpanId = typeof record.root_span_id === 'string' ? record.root_span_id : null;
  const traceIds = Array.isArray(record.trace_ids) ? (record.trace_ids as string[]) : [];
  return decodeStoredSteps(steps as StoredStep[], rootSpanId, traceIds).map(stepView);
}
