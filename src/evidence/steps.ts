import { attributeText, firstText, type Attributes, type AttributeValue } from '../otlp/attributes.js';
import { FIELD_NAMES, type FieldKeys, type FieldName } from './fields.js';
import type { RunSpan } from './run-input.js';
import { isFailedResult, Recognisers, type Recognition, type SpanRole } from './recognisers.js';

export type StepType = 'decision' | 'change' | 'tool_call' | 'agent' | 'workflow' | 'task' | 'other';
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
  /** For changes, tool calls and tasks: whether this attempt succeeded. */
  readonly succeeded?: boolean;
  readonly events?: ReadonlyArray<{ name: string; time: string }>;
  /** For decisions: the policy as the catalogue knows it. */
  readonly policy?: StepPolicy;
  /** The identity this step acted as, when it records one other than the run's actor. */
  readonly actor?: StepActor;
}

/** A step's own acting identity, resolved like the run's actor (DESIGN §5: every identity that acts). */
export interface StepActor {
  /** The inventory's canonical id, else the id as reported. */
  readonly id: string;
  /** The id the step reported, when the inventory knows it by another. */
  readonly reported_id?: string;
  /** Whether the inventory lists it; absent when no inventory is configured. */
  readonly registered?: boolean;
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
    ...(step.actor !== undefined ? { actor: step.actor } : {}),
  };
}

/** Evidence field texts by position in FIELD_NAMES. */
type FieldTexts = ReadonlyArray<string | undefined>;

const FIELD_POSITION = new Map(FIELD_NAMES.map((field, index) => [field, index]));
/** Shared by attributes that carry no field (most spans: HTTP calls, queries). */
const NO_TEXTS: FieldTexts = new Array<undefined>(FIELD_NAMES.length);

/** The fields a step shows, in the order it shows them. */
const STEP_FIELDS = (
  ['decision.policy', 'decision.result', 'decision.revision', 'decision.id', 'change.operation', 'change.target', 'tool.name', 'tool.call_id', 'failure.class', 'actor.id'] as const
).map((field) => ({ field, position: FIELD_POSITION.get(field)! }));

type RecognitionPart = 'id' | 'name' | 'agent' | 'result';

/**
 * The evidence field each part of a recognition stands for, by role, in the order they are filled.
 * They fill only what the span's own attributes leave open: configured keys win.
 */
const ROLE_FIELDS: Readonly<Record<SpanRole, ReadonlyArray<readonly [RecognitionPart, FieldName]>>> = {
  tool_call: [['name', 'tool.name'], ['id', 'tool.call_id'], ['agent', 'actor.id']],
  // An agent is known by its id, else by its name.
  agent: [['id', 'actor.id'], ['name', 'actor.id']],
  // A run's own fields (run.workflow, run.result) come from the keys evidence.fields configures, as
  // routing reads them: a workflow span is a step type, not another source of them.
  workflow: [],
  task: [],
  decision: [['name', 'decision.policy'], ['result', 'decision.result'], ['id', 'decision.id']],
  change: [['name', 'change.operation'], ['id', 'change.target']],
};

/** Reads evidence fields from a span: span attributes first, then its resource (DESIGN §5). */
export class EvidenceReader {
  /** Positions of the fields each attribute key may carry (a key may serve more than one field). */
  private readonly positionsOfKey = new Map<string, number[]>();
  /**
   * Each resource's fields, read once: the spans of a service share one resource object, which is
   * never changed once decoded (the store caches it across runs).
   */
  private readonly resourceTexts = new WeakMap<Attributes, FieldTexts>();

  constructor(
    readonly keys: FieldKeys,
    /** What framework spans are (tool calls, agents, ...): read after the configured keys. */
    readonly recognisers: Recognisers = new Recognisers(),
  ) {
    FIELD_NAMES.forEach((field, position) => {
      for (const key of keys[field]) {
        const positions = this.positionsOfKey.get(key) ?? [];
        positions.push(position);
        this.positionsOfKey.set(key, positions);
      }
    });
  }

  read(field: FieldName, span: RunSpan): string | undefined {
    const keys = this.keys[field];
    return firstText(keys, span.attributes, span.resource);
  }

  /** The raw attribute behind a field (for values that are not text). */
  raw(field: FieldName, span: RunSpan): AttributeValue | undefined {
    for (const key of this.keys[field]) {
      const value = span.attributes[key] ?? span.resource[key];
      if (value !== undefined) return value;
    }
    return undefined;
  }

  /**
   * Every field of a span, read at once. Judging a run asks about each span's fields many times;
   * reading the attributes for each question cost more than the rest of the judging.
   */
  evidenceOf(span: RunSpan): SpanEvidence {
    let resource = this.resourceTexts.get(span.resource);
    if (resource === undefined) {
      resource = this.fieldTexts(span.resource);
      this.resourceTexts.set(span.resource, resource);
    }
    const recognition = this.recognisers.recognise(span);
    const own = this.fieldTexts(span.attributes);
    return new SpanEvidence(span, recognition === undefined ? own : withRecognition(own, recognition), resource, recognition);
  }

  /**
   * What `firstText` finds for every field. Walks the attributes a span has rather than every key
   * of every field: most of those are absent, and each miss cost as much as a hit.
   */
  private fieldTexts(attributes: Attributes): FieldTexts {
    let texts: Array<string | undefined> | undefined;
    for (const key in attributes) {
      const positions = this.positionsOfKey.get(key);
      if (positions === undefined) continue;
      const text = attributeText(attributes[key]);
      if (text === undefined || text === '') continue;
      texts ??= new Array<string | undefined>(FIELD_NAMES.length);
      for (const position of positions) {
        // Two keys of one field carry text: the one listed first wins.
        texts[position] = texts[position] === undefined ? text : firstText(this.keys[FIELD_NAMES[position]!], attributes);
      }
    }
    return texts ?? NO_TEXTS;
  }
}

/** The span's own field texts with what its recogniser found filled in where they are open. */
function withRecognition(own: FieldTexts, recognition: Recognition): FieldTexts {
  let texts: Array<string | undefined> | undefined;
  for (const [part, field] of ROLE_FIELDS[recognition.role]) {
    const text = recognition[part];
    const position = FIELD_POSITION.get(field)!;
    if (text === undefined || (texts ?? own)[position] !== undefined) continue;
    texts ??= [...own];
    texts[position] = text;
  }
  return texts ?? own;
}

/** A span with its evidence fields read (EvidenceReader.evidenceOf). */
export class SpanEvidence {
  constructor(
    readonly span: RunSpan,
    private readonly own: FieldTexts,
    private readonly resource: FieldTexts,
    /** What a recogniser says the span is, if one claims it. */
    readonly recognition?: Recognition,
  ) {}

  /** The field as EvidenceReader.read finds it: span attributes first, then the resource. */
  read(field: FieldName): string | undefined {
    const position = FIELD_POSITION.get(field)!;
    return this.own[position] ?? this.resource[position];
  }

  /** The field from the span's own attributes, not its resource. */
  ownText(field: FieldName): string | undefined {
    return this.own[FIELD_POSITION.get(field)!];
  }

  /** The fields a step shows: the span's own, since a resource-wide value says nothing about one step. */
  stepEvidence(): Partial<Record<FieldName, string>> {
    const evidence: Partial<Record<FieldName, string>> = {};
    for (const { field, position } of STEP_FIELDS) {
      const text = this.own[position];
      if (text !== undefined) evidence[field] = text;
    }
    return evidence;
  }

  /** A tool call: recognised as one, an execute_tool operation, or a named tool (by the keys configured for tool calls). */
  isToolCall(): boolean {
    return this.recognition?.role === 'tool_call' || this.read('tool.operation') === 'execute_tool' || this.read('tool.name') !== undefined;
  }

  /** An error status, a failure.class, or a failed result its recogniser read (a CI/CD task's). */
  isFailed(): boolean {
    return this.span.statusCode === 2 || this.read('failure.class') !== undefined || isFailedResult(this.recognition?.result);
  }

  /**
   * A run's evidence fields: each as the root reads it, else the first other span carrying it (in the
   * given order). A run whose root is an agent invocation is that agent's task, named after it, unless
   * its spans say otherwise: an agent framework's top span makes a run with no nhi.* attributes.
   */
  static runEvidence(root: SpanEvidence | undefined, spans: readonly SpanEvidence[]): Partial<Record<FieldName, string>> {
    const found = SpanEvidence.firstOfEach(root === undefined ? spans : [root, ...spans]);
    const agent = root?.recognition?.role === 'agent' ? root.recognition : undefined;
    if (agent !== undefined) {
      found['run.kind'] ??= 'agent_task';
      found['actor.type'] ??= 'ai_agent';
      const name = agent.name ?? agent.id;
      if (name !== undefined) found['run.workflow'] ??= name;
    }
    return found;
  }

  /** Each field as `read` finds it on the first of `spans` that carries it, in FIELD_NAMES order. */
  static firstOfEach(spans: readonly SpanEvidence[]): Partial<Record<FieldName, string>> {
    const found: Partial<Record<FieldName, string>> = {};
    FIELD_NAMES.forEach((field, position) => {
      for (const span of spans) {
        const text = span.own[position] ?? span.resource[position];
        if (text !== undefined) {
          found[field] = text;
          break;
        }
      }
    });
    return found;
  }
}

/**
 * Tool call spans that repeat the tool call around them rather than make another: the nearest tool
 * call above carries the same call id, or names the same tool. An MCP tool call is an execute_tool
 * span on the client and another on the server beneath it; the AI SDK's ai.toolCall wraps the MCP
 * client's. Counting each would judge one call two or three times.
 */
export function repeatedToolCalls(spans: readonly SpanEvidence[]): Set<SpanEvidence> {
  const bySpan = new Map(spans.map((e) => [`${e.span.traceId}/${e.span.spanId}`, e]));
  const repeated = new Set<SpanEvidence>();
  for (const call of spans) {
    if (!call.isToolCall()) continue;
    let above = bySpan.get(`${call.span.traceId}/${call.span.parentSpanId}`);
    for (let depth = 0; above !== undefined && depth < spans.length; depth++) {
      if (above.isToolCall()) {
        const id = call.read('tool.call_id');
        if ((id !== undefined && id === above.read('tool.call_id')) || call.read('tool.name') === above.read('tool.name')) repeated.add(call);
        break;
      }
      above = bySpan.get(`${above.span.traceId}/${above.span.parentSpanId}`);
    }
  }
  return repeated;
}

export function stepType(spanEvidence: SpanEvidence): StepType {
  if (spanEvidence.read('change.operation') !== undefined) return 'change';
  if (spanEvidence.read('decision.policy') !== undefined || spanEvidence.read('decision.result') !== undefined) {
    return 'decision';
  }
  if (spanEvidence.isToolCall()) return 'tool_call';
  const role = spanEvidence.recognition?.role;
  return role === 'agent' || role === 'workflow' || role === 'task' ? role : 'other';
}

export function toStep(spanEvidence: SpanEvidence, isRoot = false, policy?: StepPolicy, actor?: StepActor): RunStep {
  const { span } = spanEvidence;
  const type = stepType(spanEvidence);
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
    evidence: spanEvidence.stepEvidence(),
  };
  if (isRoot) step.root = true;
  if (span.statusMessage !== '') step.status_message = span.statusMessage;
  if (type === 'change' || type === 'tool_call' || type === 'task') step.succeeded = !spanEvidence.isFailed();
  if (span.events.length > 0) step.events = span.events.map((e) => ({ name: e.name, timeNs: e.timeNs }));
  if (policy !== undefined) step.policy = policy;
  if (actor !== undefined) step.actor = actor;
  return step;
}

export function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** Steps as a record shows them, by start time (ties keep their order: sort is stable). */
export function byStepStart(a: Step, b: Step): number {
  const d = BigInt(a.start_ns) - BigInt(b.start_ns);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** Deterministic history order: start time, then span id. */
export function byStart(a: Pick<RunSpan, 'startNs' | 'spanId'>, b: Pick<RunSpan, 'startNs' | 'spanId'>): number {
  if (a.startNs !== b.startNs) return a.startNs < b.startNs ? -1 : 1;
  return a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0;
}
