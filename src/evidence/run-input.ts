import type { Attributes } from '../otlp/attributes.js';
import type { DecodedSpan } from '../otlp/stored-span.js';
import type { SpanRedaction } from '../otlp/intake-request.js';

/**
 * A span of a run, with its resource, as the evaluator reads it. Run history decodes only the span
 * attributes judging reads (attributeKeysRead); the API decodes them all.
 */
export interface RunSpan extends DecodedSpan {
  readonly resource: Attributes;
  readonly scopeName: string;
  /** SHA-256 (hex) of the span's stored OTLP bytes, chained with each revision. */
  readonly digest: string;
  /** Values erased from this span, its scope or its resource before storage. */
  readonly redactions: readonly SpanRedaction[];
}

export interface RunInput {
  readonly runKey: string;
  readonly spans: readonly RunSpan[];
  /** Set when a cap made the run be judged early. */
  readonly capped?: string;
  /** Set when runs.max_open_ms passed without a root span. */
  readonly rootMissing?: boolean;
}

/** What earlier runs left behind, for replay and reuse checks. */
export interface RunHistory {
  /** The run that used this trigger event first, when it is another run that started no later than `startNs`. */
  runWithTrigger(eventKey: string, exceptRunKey: string, startNs: bigint): string | undefined;
  /** The run that used this decision id first, when it is another run that started no later than `startNs`. */
  runWithDecision(decisionId: string, exceptRunKey: string, startNs: bigint): string | undefined;
  /** The definition of the workflow's most recent other run that started no later than `startNs`, if any ran with one. */
  lastDefinition(workflow: string, exceptRunKey: string, startNs: bigint): { definition: string; runKey: string } | undefined;
}
