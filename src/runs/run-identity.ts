import { attributeText, firstText, type Attributes } from '../otlp/attributes.js';
import type { Config } from '../config/schema.js';
import { resolveFieldKeys, runIdentityKeys } from '../evidence/fields.js';
import type { SpanMatch } from '../processors/filter/config.js';
import { Recognisers } from '../evidence/recognisers.js';

/** The parts of a span (intake's or a stored one) that identity rules read. */
export interface IdentitySpan {
  readonly name: string;
  readonly parentSpanId: string;
  readonly attributes: Attributes;
}

/**
 * The one definition of "this span carries a run identity" (DESIGN §4), shared by the filter, which
 * routes spans into runs, and the evaluator, which finds a run's root.
 */
export class RunIdentity {
  constructor(
    /** Keys of the run id; its value is the run key. */
    private readonly runIdKeys: readonly string[],
    /** Keys whose presence marks a workflow span (run id, workflow name, kind). */
    private readonly identityKeys: readonly string[],
    /** Rules that start a run even without identity attributes. */
    private readonly include: readonly SpanMatch[] = [],
    /** With `evidence.agent_runs`: an agent invocation a recogniser tells starts a run. */
    private readonly agentRuns?: Recognisers,
  ) {}

  /** The span attribute keys these rules read. */
  get attributeKeys(): string[] {
    return [
      ...this.runIdKeys,
      ...this.identityKeys,
      ...this.include.flatMap((rule) => rule.attribute ?? []),
      ...(this.agentRuns?.matchKeys ?? []),
    ];
  }

  /** The run id a span carries (span attributes first, then its resource). */
  runId(span: IdentitySpan, resource: Attributes): string | undefined {
    return firstText(this.runIdKeys, span.attributes, resource);
  }

  /**
   * Whether the span carries a run identity: a run id, a workflow name or kind, an include rule, or
   * (agent_runs) an agent invocation — the top one of a run is its root, nested agents are steps.
   */
  carries(span: IdentitySpan, resource: Attributes): boolean {
    return this.runId(span, resource) !== undefined || this.namesRun(span, resource) || this.isAgentSpan(span);
  }

  /** The identity short of a run id: a workflow name or kind, or an include rule. */
  namesRun(span: IdentitySpan, resource: Attributes): boolean {
    return (
      this.identityKeys.some((k) => span.attributes[k] !== undefined) ||
      // A resource-wide workflow name marks the trace roots of that service, not each of its spans.
      (span.parentSpanId === '' && this.identityKeys.some((k) => resource[k] !== undefined)) ||
      this.include.some((rule) => matches(rule, span, resource))
    );
  }

  /** With `evidence.agent_runs`: an agent invocation a recogniser tells, which makes a run of its trace. */
  isAgentSpan(span: IdentitySpan): boolean {
    return this.agentRuns?.isAgent(span) === true;
  }
}

/** The run identity the configuration defines (evidence fields, filter include rules, agent_runs). */
export function runIdentityFromConfig(config: Pick<Config, 'evidence' | 'filter'>): RunIdentity {
  const { fields, recognisers, agent_runs } = config.evidence;
  const keys = resolveFieldKeys(fields);
  return new RunIdentity(keys['run.id'], runIdentityKeys(keys), config.filter.include, agent_runs ? Recognisers.fromConfig(recognisers) : undefined);
}


export function matches(rule: SpanMatch, span: Pick<IdentitySpan, 'name' | 'attributes'>, resource: Attributes): boolean {
  if (rule.span_name !== undefined && span.name !== rule.span_name) return false;
  if (rule.span_name_prefix !== undefined && !span.name.startsWith(rule.span_name_prefix)) return false;
  if (rule.attribute !== undefined) {
    const value = span.attributes[rule.attribute] ?? resource[rule.attribute];
    if (value === undefined) return false;
    if (rule.equals !== undefined && attributeText(value) !== rule.equals) return false;
  }
  return true;
}
