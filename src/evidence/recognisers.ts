import { z } from 'zod';
import { attributeText, firstText, type Attributes } from '../otlp/attributes.js';

/**
 * Recognisers (DESIGN §3): what a span is in a framework's own vocabulary, mapped onto runledger's
 * steps. Data, ordered most specific first: the first that matches a span decides its role; evidence
 * code reads roles and fields, never a framework's keys. Attribute names are checked against each
 * library's source (README "Recognition" lists the versions).
 */

export const SPAN_ROLES = ['tool_call', 'agent', 'workflow', 'task', 'decision', 'change'] as const;
export type SpanRole = (typeof SPAN_ROLES)[number];

/** Which spans a recogniser claims; every part given must match, on the span's own attributes. */
export interface RecogniserMatch {
  readonly attribute?: string;
  /** The attribute's value is one of these (absent: present with any value). */
  readonly equals?: readonly string[];
  readonly span_name_prefix?: string;
}

export interface Recogniser {
  /** `framework.role`, as the README table names it. */
  readonly name: string;
  readonly when: RecogniserMatch;
  readonly role: SpanRole;
  /** Tool, agent, workflow or task name; a decision's policy; a change's operation (first key with text wins). */
  readonly name_keys?: readonly string[];
  /** Tool call id, agent id, task run id, decision id; a change's target. */
  readonly id_keys?: readonly string[];
  /** For a tool call: the agent it acted for, when the span itself says so. */
  readonly agent_keys?: readonly string[];
  /** A task's, workflow's or decision's result. */
  readonly result_keys?: readonly string[];
  /**
   * Where arguments and results are. Sensitive: never read (judging never decodes them); listed so
   * an operator knows what to add to redaction.keys when a framework records them verbatim.
   */
  readonly content_keys?: readonly string[];
}

const GEN_AI_OPERATION = 'gen_ai.operation.name';

/** Built in, most specific first. */
export const BUILT_IN_RECOGNISERS: readonly Recogniser[] = [
  // Mastra (@mastra/otel-exporter): its spans follow the GenAI conventions below; a workflow step is a task.
  {
    name: 'mastra.task',
    when: { attribute: 'mastra.span.type', equals: ['workflow_step'] },
    role: 'task',
    content_keys: ['mastra.workflow_step.input', 'mastra.workflow_step.output'],
  },
  // GenAI semantic conventions (current names); the Vercel AI SDK v7 (@ai-sdk/otel) and Mastra emit these.
  {
    name: 'gen_ai.tool_call',
    when: { attribute: GEN_AI_OPERATION, equals: ['execute_tool'] },
    role: 'tool_call',
    name_keys: ['gen_ai.tool.name'],
    id_keys: ['gen_ai.tool.call.id'],
    agent_keys: ['gen_ai.agent.id'],
    content_keys: ['gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'],
  },
  {
    name: 'gen_ai.agent',
    when: { attribute: GEN_AI_OPERATION, equals: ['invoke_agent'] },
    role: 'agent',
    name_keys: ['gen_ai.agent.name'],
    id_keys: ['gen_ai.agent.id'],
    content_keys: ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions'],
  },
  {
    name: 'gen_ai.workflow',
    when: { attribute: GEN_AI_OPERATION, equals: ['invoke_workflow'] },
    role: 'workflow',
    name_keys: ['gen_ai.workflow.name'],
  },
  // Vercel AI SDK v6 (`ai` 6.x: recordSpan names and ai.* attributes).
  {
    name: 'ai_sdk.tool_call',
    when: { attribute: 'ai.operationId', equals: ['ai.toolCall'] },
    role: 'tool_call',
    name_keys: ['ai.toolCall.name'],
    id_keys: ['ai.toolCall.id'],
    agent_keys: ['ai.telemetry.functionId'],
    content_keys: ['ai.toolCall.args', 'ai.toolCall.result'],
  },
  {
    name: 'ai_sdk.agent',
    when: { attribute: 'ai.operationId', equals: ['ai.generateText', 'ai.streamText'] },
    role: 'agent',
    name_keys: ['ai.telemetry.functionId'],
    content_keys: ['ai.prompt', 'ai.response.text', 'ai.response.toolCalls'],
  },
  // OpenInference (Arize: LangChain, LlamaIndex, OpenAI Agents, ... instrumentations).
  {
    name: 'openinference.tool_call',
    when: { attribute: 'openinference.span.kind', equals: ['TOOL'] },
    role: 'tool_call',
    name_keys: ['tool.name', 'tool_call.function.name'],
    id_keys: ['tool_call.id'],
    content_keys: ['input.value', 'output.value', 'tool_call.function.arguments'],
  },
  {
    name: 'openinference.agent',
    when: { attribute: 'openinference.span.kind', equals: ['AGENT'] },
    role: 'agent',
    name_keys: ['agent.name'],
    content_keys: ['input.value', 'output.value'],
  },
  {
    name: 'openinference.workflow',
    when: { attribute: 'openinference.span.kind', equals: ['CHAIN'] },
    role: 'workflow',
    content_keys: ['input.value', 'output.value'],
  },
  // OpenLLMetry / Traceloop (withTool, withAgent, withWorkflow, withTask).
  {
    name: 'traceloop.tool_call',
    when: { attribute: 'traceloop.span.kind', equals: ['tool'] },
    role: 'tool_call',
    name_keys: ['traceloop.entity.name'],
    // Set on every span inside withAgent.
    agent_keys: ['gen_ai.agent.name'],
    content_keys: ['traceloop.entity.input', 'traceloop.entity.output'],
  },
  {
    name: 'traceloop.agent',
    when: { attribute: 'traceloop.span.kind', equals: ['agent'] },
    role: 'agent',
    name_keys: ['gen_ai.agent.name', 'traceloop.entity.name'],
    content_keys: ['traceloop.entity.input', 'traceloop.entity.output'],
  },
  {
    name: 'traceloop.workflow',
    when: { attribute: 'traceloop.span.kind', equals: ['workflow'] },
    role: 'workflow',
    name_keys: ['traceloop.workflow.name', 'traceloop.entity.name'],
    content_keys: ['traceloop.entity.input', 'traceloop.entity.output'],
  },
  {
    name: 'traceloop.task',
    when: { attribute: 'traceloop.span.kind', equals: ['task'] },
    role: 'task',
    name_keys: ['traceloop.entity.name'],
    content_keys: ['traceloop.entity.input', 'traceloop.entity.output'],
  },
  // CI/CD semantic conventions: a pipeline run and its tasks.
  {
    name: 'cicd.task',
    when: { attribute: 'cicd.pipeline.task.name' },
    role: 'task',
    name_keys: ['cicd.pipeline.task.name'],
    id_keys: ['cicd.pipeline.task.run.id'],
    result_keys: ['cicd.pipeline.task.run.result'],
  },
  {
    name: 'cicd.pipeline',
    when: { attribute: 'cicd.pipeline.name' },
    role: 'workflow',
    name_keys: ['cicd.pipeline.name'],
    id_keys: ['cicd.pipeline.run.id'],
    result_keys: ['cicd.pipeline.result'],
  },
  // Temporal's OpenTelemetry interceptors (TypeScript, Go, Java SDKs): RunWorkflow:Name, RunActivity:Name.
  {
    name: 'temporal.activity',
    when: { span_name_prefix: 'RunActivity:' },
    role: 'task',
    id_keys: ['temporalActivityID'],
  },
  {
    name: 'temporal.workflow',
    when: { span_name_prefix: 'RunWorkflow:' },
    role: 'workflow',
    id_keys: ['temporalRunID', 'temporalWorkflowID'],
  },
];

const keyList = z.array(z.string().min(1)).min(1);

const recogniserSchema = z
  .strictObject({
    name: z.string().min(1).describe('names the recogniser in README tables and errors'),
    when: z
      .strictObject({
        attribute: z.string().min(1).optional().describe('span attribute that must be present'),
        equals: z.array(z.string()).min(1).optional().describe('accepted values of that attribute'),
        span_name_prefix: z.string().min(1).optional().describe('span name prefix'),
      })
      .refine((m) => m.attribute !== undefined || m.span_name_prefix !== undefined, { message: 'when needs attribute or span_name_prefix' })
      .refine((m) => m.equals === undefined || m.attribute !== undefined, { message: 'equals needs attribute', path: ['equals'] }),
    role: z.enum(SPAN_ROLES),
    name_keys: keyList.optional(),
    id_keys: keyList.optional(),
    agent_keys: keyList.optional(),
    result_keys: keyList.optional(),
    content_keys: keyList.optional(),
  })
  .refine((r) => r.agent_keys === undefined || r.role === 'tool_call', { message: 'agent_keys is for role tool_call', path: ['agent_keys'] });

export const recognisersConfigSchema = z
  .strictObject({
    add: z.array(recogniserSchema).default([]).describe('looked at before the table'),
    replace: z.array(recogniserSchema).optional().describe('replaces the built-in table'),
  })
  .prefault({})
  .describe('recognisers of framework spans: { add: [...] } to look at yours first, { replace: [...] } to replace the built-in table');

export type RecognisersConfig = z.infer<typeof recognisersConfigSchema>;

/** The table the configuration defines: yours first, then the built-in table (or your replacement). */
export function resolveRecognisers(config: RecognisersConfig): readonly Recogniser[] {
  // Not frozen (readonly in type only): V8 walks a frozen array on a slow path that allocates an
  // object per element, and this table is walked for every span, at intake and again when judging.
  return [...config.add, ...(config.replace ?? BUILT_IN_RECOGNISERS)];
}

/** What a recogniser found on one span: texts from the span's own attributes. */
export interface Recognition {
  readonly recogniser: Recogniser;
  readonly role: SpanRole;
  readonly name?: string;
  readonly id?: string;
  readonly agent?: string;
  readonly result?: string;
}

/** The parts of a span recognition reads. */
export interface RecognisableSpan {
  readonly name: string;
  readonly attributes: Attributes;
}

/** Results a task or workflow reports when it did not succeed (CI/CD conventions' values and common words). */
const FAILED_RESULTS = new Set(['failure', 'failed', 'error', 'timeout', 'cancellation', 'cancelled', 'canceled']);

export function isFailedResult(result: string | undefined): boolean {
  return result !== undefined && FAILED_RESULTS.has(result.toLowerCase());
}

export class Recognisers {
  constructor(readonly table: readonly Recogniser[] = BUILT_IN_RECOGNISERS) {}

  static fromConfig(config: RecognisersConfig): Recognisers {
    return new Recognisers(resolveRecognisers(config));
  }

  /** The first recogniser that claims the span, with what it found; undefined when none does. */
  recognise(span: RecognisableSpan): Recognition | undefined {
    const recogniser = this.claimant(span);
    if (recogniser === undefined) return undefined;
    const { attributes } = span;
    return {
      recogniser,
      role: recogniser.role,
      ...defined('name', firstText(recogniser.name_keys ?? [], attributes)),
      ...defined('id', firstText(recogniser.id_keys ?? [], attributes)),
      ...defined('agent', firstText(recogniser.agent_keys ?? [], attributes)),
      ...defined('result', firstText(recogniser.result_keys ?? [], attributes)),
    };
  }

  /** Whether the span is an agent invocation (what `evidence.agent_runs` starts runs at; asked of every span at intake). */
  isAgent(span: RecognisableSpan): boolean {
    return this.claimant(span)?.role === 'agent';
  }

  private claimant(span: RecognisableSpan): Recogniser | undefined {
    for (const recogniser of this.table) if (claims(recogniser.when, span)) return recogniser;
    return undefined;
  }

  /** The attribute keys recognition reads: never content keys, which judging must not need. */
  get attributeKeys(): string[] {
    const keys = new Set<string>();
    for (const r of this.table) {
      if (r.when.attribute !== undefined) keys.add(r.when.attribute);
      for (const list of [r.name_keys, r.id_keys, r.agent_keys, r.result_keys]) for (const key of list ?? []) keys.add(key);
    }
    return [...keys];
  }

  /** The keys that decide which recogniser claims a span (intake decodes these to tell agent spans). */
  get matchKeys(): string[] {
    return [...new Set(this.table.flatMap((r) => r.when.attribute ?? []))];
  }
}

function claims(when: RecogniserMatch, span: RecognisableSpan): boolean {
  if (when.span_name_prefix !== undefined && !span.name.startsWith(when.span_name_prefix)) return false;
  if (when.attribute === undefined) return true;
  const value = span.attributes[when.attribute];
  if (value === undefined) return false;
  if (when.equals === undefined) return true;
  const text = attributeText(value);
  return text !== undefined && when.equals.includes(text);
}

function defined<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
