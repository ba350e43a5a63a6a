import type { Catalogue } from '../../enrich/catalogue.js';
import type { Inventory } from '../../enrich/inventory.js';
import { finding, type Finding } from '../findings.js';
import type { ChangeAttempt } from '../changes.js';
import type { RunFacts } from '../run-facts.js';
import type { RunSpan } from '../run-input.js';
import type { SpanEvidence, StepPolicy } from '../steps.js';
import type { Check } from './check.js';

/** Each complete decision cites a policy the catalogue lists, at its current revision. */
export const checkPolicies: Check = ({ catalogue, decisions }) => {
  if (catalogue === undefined) return [];
  const findings: Finding[] = [];
  for (const d of decisions) {
    if (!d.complete) continue;
    const entry = catalogue.policy(d.policy!);
    if (entry === undefined) {
      findings.push(
        finding('unknown_policy', `decision "${d.span.name}" cites policy ${d.policy}, which the catalogue does not list`, { field: 'decision.policy', span_id: d.span.spanId }),
      );
      continue;
    }
    const cited = d.evidence.read('decision.revision');
    if (cited !== undefined && cited !== entry.revision) {
      findings.push(
        finding('policy_revision_mismatch', `decision "${d.span.name}" used ${d.policy} revision ${cited}; the catalogue's current revision is ${entry.revision}`, {
          field: 'decision.revision',
          span_id: d.span.spanId,
          controls: entry.controls,
        }),
      );
    }
  }
  return findings;
};

/** The catalogue's entry for each decision step that cites a listed policy, by span id (shown on the step). */
export function policiesOfDecisions({ catalogue, decisions }: RunFacts): Map<string, StepPolicy> {
  const policies = new Map<string, StepPolicy>();
  if (catalogue === undefined) return policies;
  for (const d of decisions) {
    const entry = d.complete ? catalogue.policy(d.policy!) : undefined;
    if (entry !== undefined) policies.set(d.span.spanId, { revision: entry.revision, owner: entry.owner, controls: entry.controls });
  }
  return policies;
}

/**
 * Each tool call against the approved tools of the agent it acted for: the nearest span at or above
 * it that names an agent (after a handoff, another agent with tools of its own), else the run's actor
 * or any agent the run names. An agent is looked up by the id it reported and by its inventory id.
 */
export const checkToolBoundary: Check = (run) => {
  const { catalogue, changes } = run;
  const toolCalls = changes.attempts.filter((a) => a.toolCall);
  if (catalogue === undefined || toolCalls.length === 0) return [];
  const boundaryOf = boundaryLookup(catalogue, run.inventory);
  const runActors = [run.actor.id, run.evidence['actor.id']];
  // The run's boundary, looked up once and only when a call's own agent has none.
  let runBoundary: { found: Boundary | undefined } | undefined;
  const runLevel = () =>
    (runBoundary ??= { found: [...runActors, ...run.spanEvidence.map((e) => e.read('actor.id'))].map(boundaryOf).find((b) => b !== undefined) }).found;
  const evidenceOf = new Map(run.spanEvidence.map((e) => [e.span, e]));
  const findings: Finding[] = [];
  const unbounded = new Set<string>();
  for (const call of toolCalls) {
    const agent = nearestAgent(run, evidenceOf, call);
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
};

interface Boundary {
  readonly agent: string;
  readonly tools: ReadonlySet<string>;
}

function boundaryLookup(catalogue: Catalogue, inventory: Inventory | undefined): (id: string | null | undefined) => Boundary | undefined {
  return (id) => {
    if (id == null) return undefined;
    for (const agent of [id, inventory?.resolve(id)?.id]) {
      if (agent === undefined) continue;
      const tools = catalogue.approvedTools(agent);
      if (tools !== undefined) return { agent, tools };
    }
    return undefined;
  };
}

/** The agent named by the call's own span or the nearest span above it. */
function nearestAgent(run: RunFacts, evidenceOf: ReadonlyMap<RunSpan, SpanEvidence>, call: ChangeAttempt): string | undefined {
  let span: RunSpan | undefined = call.span;
  for (let depth = 0; span !== undefined && depth <= run.spans.length; depth++) {
    const agent = evidenceOf.get(span)?.ownText('actor.id');
    if (agent !== undefined) return agent;
    span = run.parentOf(span);
  }
  return undefined;
}
