import { describe, expect, it } from 'vitest';
import { parseCatalogue } from '../enrich/catalogue.js';
import { RunIdentity } from '../runs/run-identity.js';
import { ROOT_ID, runSpan, workflowRun } from '../../test/support/run-spans.js';
import { evaluateRun } from './evaluate.js';
import { resolveFieldKeys, runIdentityKeys } from './fields.js';
import { resolveProfiles } from './profiles.js';
import type { RunHistory, RunSpan } from './run-input.js';
import { EvidenceReader, repeatedToolCalls } from './steps.js';

const keys = resolveFieldKeys({});
const reader = new EvidenceReader(keys);
const noHistory: RunHistory = { runWithTrigger: () => undefined, runWithDecision: () => undefined, lastDefinition: () => undefined };
const catalogue = parseCatalogue({ agents: [{ agent_id: 'sa-1', approved_tools: ['search'] }] }, { source: 'catalogue.yaml', revision: 'c1' });

const judge = (spans: RunSpan[]) =>
  evaluateRun(
    { runKey: 'run-1', spans },
    { reader, profiles: resolveProfiles({}), identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)), history: noHistory, enrichment: { catalogue } },
  );

/** An MCP `tools/call`: the client's execute_tool span and the server's beneath it (MCP semantic conventions). */
function mcpCall(tool: string, callId: string, parent: string): RunSpan[] {
  const attributes = { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool, 'mcp.method.name': 'tools/call' };
  const client = runSpan(`tools/call ${tool}`, { ...attributes, 'gen_ai.tool.call.id': callId }, { parent });
  const server = runSpan(`tools/call ${tool}`, attributes, { parent: client.spanId });
  return [client, server];
}

describe('repeatedToolCalls', () => {
  it('counts an MCP call once although client and server both record it', () => {
    const spans = workflowRun(undefined, []);
    const [client, server] = mcpCall('delete_repo', 'call_1', ROOT_ID);
    const evidence = [...spans, client!, server!].map((s) => reader.evidenceOf(s));
    expect([...repeatedToolCalls(evidence)].map((e) => e.span.spanId)).toEqual([server!.spanId]);

    const verdict = judge([...spans, client!, server!]);
    expect(verdict.findings.filter((f) => f.code === 'tool_outside_boundary').map((f) => f.span_id)).toEqual([client!.spanId]);
    // Both spans stay in the history as tool call steps.
    expect(verdict.steps.filter((s) => s.type === 'tool_call')).toHaveLength(2);
  });

  it('knows the same call by its call id through an SDK span that wraps the MCP client', () => {
    const root = workflowRun(undefined, []);
    const sdk = runSpan('ai.toolCall', { 'ai.operationId': 'ai.toolCall', 'ai.toolCall.name': 'mcp_delete_repo', 'ai.toolCall.id': 'call_7' }, { parent: ROOT_ID });
    const client = runSpan('tools/call delete_repo', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'delete_repo', 'gen_ai.tool.call.id': 'call_7' }, { parent: sdk.spanId });
    const evidence = [...root, sdk, client].map((s) => reader.evidenceOf(s));
    expect([...repeatedToolCalls(evidence)].map((e) => e.span.spanId)).toEqual([client.spanId]);
  });

  it('keeps separate calls apart: siblings, and a tool that calls another tool', () => {
    const spans = workflowRun(undefined, []);
    const first = runSpan('execute_tool search', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search', 'gen_ai.tool.call.id': 'a' }, { parent: ROOT_ID });
    const second = runSpan('execute_tool search', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search', 'gen_ai.tool.call.id': 'b' }, { parent: ROOT_ID });
    const nested = runSpan('execute_tool wipe', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'wipe', 'gen_ai.tool.call.id': 'c' }, { parent: first.spanId });
    const evidence = [...spans, first, second, nested].map((s) => reader.evidenceOf(s));
    expect(repeatedToolCalls(evidence).size).toBe(0);
    expect(judge([...spans, first, second, nested]).findings.filter((f) => f.code === 'tool_outside_boundary').map((f) => f.span_id)).toEqual([nested.spanId]);
  });
});
