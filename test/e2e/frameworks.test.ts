import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { LangChainInstrumentation } from '@arizeai/openinference-instrumentation-langchain';
import * as CallbackManagerModule from '@langchain/core/callbacks/manager';
import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import { RunnableLambda } from '@langchain/core/runnables';
import { tool as langchainTool } from '@langchain/core/tools';
import { FakeStreamingChatModel } from '@langchain/core/utils/testing';
import { withAgent, withTool } from '@traceloop/node-server-sdk';
import { generateText, stepCountIs, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { z } from 'zod';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { waitForRuns, type FindingView, type RunView } from '../support/runs-cli.js';

/**
 * README "Recognition", end to end with the real libraries: an AI SDK agent (its mock model, real
 * tools), a LangChain tool loop (its fake chat model, real tools) instrumented by OpenInference, and
 * Traceloop's withAgent/withTool. Their spans go through a registered NodeTracerProvider and the OTel
 * gRPC exporter to a real runledger, which judges each run against a policy catalogue approving some
 * tools per agent.
 */

const AI_SDK_AGENT = 'support-triage';
const LANGCHAIN_AGENT = 'agent:refunds-desk';

const CATALOGUE = {
  agents: [
    { agent_id: AI_SDK_AGENT, approved_tools: ['lookup_order'] },
    { agent_id: LANGCHAIN_AGENT, approved_tools: ['lookup_order', 'issue_refund'] },
  ],
};

interface RunRecord extends RunView {
  readonly findings: readonly FindingView[];
}

let runledger: RunledgerProcess;
let provider: NodeTracerProvider;
/** The same spans the OTLP exporter sends: to learn the trace id of each run. */
const exported = new InMemorySpanExporter();

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${body}`);
  return JSON.parse(body) as T;
}

/** Flushes the provider and returns the run of the trace `spanName`'s span is in, once judged. */
async function judgedRunOf(spanName: string, marker: string): Promise<RunRecord> {
  await provider.forceFlush();
  const span = exported.getFinishedSpans().find((s) => s.name === spanName && JSON.stringify(s.attributes).includes(marker));
  if (span === undefined) throw new Error(`no ${spanName} span for ${marker} was exported`);
  const runId = span.spanContext().traceId;
  await waitForRuns(runledger.dbPath, [runId]);
  return getJson<RunRecord>(`${runledger.httpUrl}/api/v1/runs/${runId}`);
}

const codes = (run: RunRecord): string[] => run.findings.map((f) => f.code);

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-frameworks-'));
  const policiesFile = join(dir, 'policies.yaml');
  writeFileSync(policiesFile, stringify(CATALOGUE));
  runledger = await startRunledger({ dir, config: { runs: { settle_ms: 200 }, enrich: { policies_file: policiesFile } } });
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'support-agents' }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: runledger.grpcUrl }), { scheduledDelayMillis: 50 }),
      new SimpleSpanProcessor(exported),
    ],
  });
  // As a real app does: the global provider and the async context manager, so spans nest.
  provider.register();
  const instrumentation = new LangChainInstrumentation({ tracerProvider: provider });
  instrumentation.manuallyInstrument(CallbackManagerModule);
});

afterAll(async () => {
  await provider?.shutdown();
  await runledger?.stop();
});

// --- Vercel AI SDK v6: generateText with tools, telemetry on, no nhi.* attribute anywhere. ---

const lookupOrder = tool({
  description: 'Look an order up by its id',
  inputSchema: z.object({ orderId: z.string() }),
  execute: ({ orderId }) => Promise.resolve({ orderId, status: 'shipped' }),
});
const deleteCustomer = tool({
  description: 'Delete a customer account',
  inputSchema: z.object({ customerId: z.string(), password: z.string() }),
  execute: ({ customerId }) => Promise.resolve({ deleted: customerId }),
});

const usage = {
  inputTokens: { total: 20, noCache: 20, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 8, text: 8, reasoning: undefined },
};

/** A model that asks for one tool call, then answers. */
function modelCalling(toolName: string, input: Record<string, string>): MockLanguageModelV3 {
  return new MockLanguageModelV3({
    doGenerate: [
      {
        content: [{ type: 'tool-call', toolCallId: `call_${toolName}`, toolName, input: JSON.stringify(input) }],
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        usage,
        warnings: [],
      },
      { content: [{ type: 'text', text: 'Done.' }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] },
    ],
  });
}

async function runAiSdkAgent(toolName: string, input: Record<string, string>, prompt: string): Promise<void> {
  const result = await generateText({
    model: modelCalling(toolName, input),
    tools: { lookup_order: lookupOrder, delete_customer: deleteCustomer },
    stopWhen: stepCountIs(3),
    prompt,
    experimental_telemetry: { isEnabled: true, functionId: AI_SDK_AGENT },
  });
  expect(result.steps.flatMap((s) => s.toolResults.map((r) => r.toolName))).toEqual([toolName]);
}

describe('Vercel AI SDK (ai 6, ai/test mock model), an agent with no nhi.* attributes', () => {
  it('makes an agent_task run of the agent named by its functionId, its tool call inside the approved set', async () => {
    await runAiSdkAgent('lookup_order', { orderId: 'A-1' }, 'Where is order A-1?');
    const run = await judgedRunOf('ai.generateText', 'Where is order A-1?');

    expect(run).toMatchObject({ kind: 'agent_task', workflow: AI_SDK_AGENT, actor: { id: AI_SDK_AGENT, type: 'ai_agent' } });
    expect(run.steps?.find((s) => s.type === 'tool_call')).toMatchObject({ name: 'ai.toolCall', succeeded: true, evidence: { 'tool.name': 'lookup_order' } });
    expect(run.steps?.[0]).toMatchObject({ name: 'ai.generateText', type: 'agent', root: true });
    expect(codes(run)).not.toContain('tool_outside_boundary');
    expect(codes(run)).not.toContain('agent_boundary_missing');
    // Never compliant on framework spans alone: nothing says what triggered the agent or which policy allowed it.
    expect(run.status).toBe('incomplete');
  });

  it('flags a tool outside the approved set as tool_outside_boundary, and stores its arguments redacted', async () => {
    await runAiSdkAgent('delete_customer', { customerId: 'C-9', password: 'correct-horse-battery-staple' }, 'Close account C-9');
    const run = await judgedRunOf('ai.generateText', 'Close account C-9');

    expect(run.status).toBe('violation');
    const call = run.steps?.find((s) => s.type === 'tool_call');
    expect(run.findings.find((f) => f.code === 'tool_outside_boundary')).toMatchObject({ span_id: call?.span_id });
    expect(run.findings.find((f) => f.code === 'tool_outside_boundary')?.message).toContain('delete_customer');

    // The arguments held a password: redaction replaced them by shape, the verdict did not need them.
    const bundle = await getJson<{ spans: Array<{ name: string; attributes: Record<string, unknown> }> }>(`${runledger.httpUrl}/api/v1/runs/${run.run_id}/evidence`);
    const stored = bundle.spans.find((s) => s.name === 'ai.toolCall')!;
    expect(stored.attributes['ai.toolCall.name']).toBe('delete_customer');
    expect(stored.attributes['ai.toolCall.args']).toMatch(/^redacted:hmac-sha256:[0-9a-f]{32}$/);
    expect(JSON.stringify(bundle)).not.toContain('correct-horse-battery-staple');
  });
});

// --- LangChain (@langchain/core) through OpenInference, inside the app's own nhi.* workflow span. ---

const lookupOrderTool = langchainTool(({ orderId }: { orderId: string }) => `order ${orderId}: shipped`, {
  name: 'lookup_order',
  description: 'Look an order up by its id',
  schema: z.object({ orderId: z.string() }),
});
const issueRefundTool = langchainTool(({ orderId }: { orderId: string }) => `refunded ${orderId}`, {
  name: 'issue_refund',
  description: 'Refund an order',
  schema: z.object({ orderId: z.string() }),
});
const exportCustomersTool = langchainTool(({ bucket }: { bucket: string }) => `exported to ${bucket}`, {
  name: 'export_customers',
  description: 'Export every customer record',
  schema: z.object({ bucket: z.string() }),
});
const langchainTools = [lookupOrderTool, issueRefundTool, exportCustomersTool];

/** The fake chat model asks for these tool calls; the loop runs each tool the model named. */
async function runLangChainAgent(ticket: string, calls: ReadonlyArray<{ name: string; args: Record<string, string> }>): Promise<void> {
  const model = new FakeStreamingChatModel({
    sleep: 0,
    responses: [new AIMessage('Working on it.')],
    chunks: [new AIMessageChunk({ content: '', tool_calls: calls.map((c, i) => ({ id: `call_${i}`, name: c.name, args: c.args, type: 'tool_call' as const })) })],
  }).bindTools(langchainTools);
  const agentLoop = RunnableLambda.from(async (question: string) => {
    const reply = await model.invoke(question);
    for (const call of reply.tool_calls ?? []) {
      const chosen = langchainTools.find((t) => t.name === call.name)!;
      await (chosen as typeof lookupOrderTool).invoke(call.args as { orderId: string });
    }
    return reply.content;
  }).withConfig({ runName: 'RefundsDesk' });

  // The app declares the workflow and the agent identity it acts as (nhi.*); LangChain spans nest under it.
  const tracer = trace.getTracer('refunds-desk');
  await tracer.startActiveSpan(
    'handle ticket',
    {
      attributes: {
        'nhi.workflow.name': 'refunds-desk',
        'nhi.workflow.kind': 'agent_task',
        'nhi.actor.id': LANGCHAIN_AGENT,
        'nhi.actor.type': 'ai_agent',
        'nhi.trigger.kind': 'api',
        'support.ticket': ticket,
      },
    },
    async (span: Span) => {
      await agentLoop.invoke(`Ticket ${ticket}`);
      span.end();
    },
  );
}

describe('LangChain through OpenInference (@langchain/core fake chat model and tools)', () => {
  it('reads TOOL spans as tool calls of the agent the workflow span names: inside the approved set', async () => {
    await runLangChainAgent('T-100', [
      { name: 'lookup_order', args: { orderId: 'A-7' } },
      { name: 'issue_refund', args: { orderId: 'A-7' } },
    ]);
    const run = await judgedRunOf('handle ticket', 'T-100');

    expect(run).toMatchObject({ kind: 'agent_task', workflow: 'refunds-desk', actor: { id: LANGCHAIN_AGENT } });
    const toolSteps = run.steps?.filter((s) => s.type === 'tool_call') ?? [];
    expect(toolSteps.map((s) => s.evidence['tool.name'])).toEqual(['lookup_order', 'issue_refund']);
    expect(run.steps?.some((s) => s.name === 'RefundsDesk' && s.type === 'workflow')).toBe(true);
    expect(codes(run)).not.toContain('tool_outside_boundary');
    expect(codes(run)).not.toContain('agent_boundary_missing');
  });

  it('flags a TOOL span outside the approved set as tool_outside_boundary', async () => {
    await runLangChainAgent('T-200', [
      { name: 'lookup_order', args: { orderId: 'A-8' } },
      { name: 'export_customers', args: { bucket: 's3://exfil' } },
    ]);
    const run = await judgedRunOf('handle ticket', 'T-200');

    expect(run.status).toBe('violation');
    const outside = run.findings.filter((f) => f.code === 'tool_outside_boundary');
    expect(outside).toHaveLength(1);
    expect(outside[0]!.message).toContain('export_customers');
    expect(run.steps?.find((s) => s.span_id === outside[0]!.span_id)).toMatchObject({ name: 'export_customers', type: 'tool_call' });
  });
});

// --- OpenLLMetry / Traceloop: withAgent and withTool on the app's own registered provider. ---

/**
 * Traceloop's initialize() would start its own NodeSDK (OTel 0.203 line) and replace the app's
 * provider; its entity helpers trace through the global one, which is what these spans need.
 */
async function runTraceloopAgent(tools: readonly string[]): Promise<string> {
  return withAgent({ name: AI_SDK_AGENT }, async () => {
    for (const name of tools) await withTool({ name }, () => Promise.resolve(`${name} done`));
    return trace.getActiveSpan()!.spanContext().traceId;
  });
}

async function judgedTrace(traceId: string): Promise<RunRecord> {
  await provider.forceFlush();
  await waitForRuns(runledger.dbPath, [traceId]);
  return getJson<RunRecord>(`${runledger.httpUrl}/api/v1/runs/${traceId}`);
}

describe('OpenLLMetry / Traceloop (@traceloop/node-server-sdk withAgent, withTool)', () => {
  it('makes an agent_task run of the withAgent span, its tool inside the approved set', async () => {
    const run = await judgedTrace(await runTraceloopAgent(['lookup_order']));

    expect(run).toMatchObject({ kind: 'agent_task', workflow: AI_SDK_AGENT, actor: { id: AI_SDK_AGENT, type: 'ai_agent' } });
    // By name: the two spans may start in the same instant, and history order then falls to span ids.
    expect(run.steps?.map((s) => [s.name, s.type]).sort()).toEqual(
      [
        [`${AI_SDK_AGENT}.agent`, 'agent'],
        ['lookup_order.tool', 'tool_call'],
      ].sort(),
    );
    expect(codes(run)).not.toContain('tool_outside_boundary');
    expect(codes(run)).not.toContain('agent_boundary_missing');
  });

  it('flags a withTool outside the approved set as tool_outside_boundary', async () => {
    const run = await judgedTrace(await runTraceloopAgent(['lookup_order', 'refund_everything']));

    expect(run.status).toBe('violation');
    const outside = run.findings.filter((f) => f.code === 'tool_outside_boundary');
    expect(outside.map((f) => run.steps?.find((s) => s.span_id === f.span_id)?.name)).toEqual(['refund_everything.tool']);
  });
});
