import type { Attributes } from '../../otlp/attributes.js';
import { attributeText } from '../../otlp/attributes.js';
import type { BatchSpan, SpanBatch } from '../../pipeline/span-batch.js';
import type { SpanSink } from '../../pipeline/span-sink.js';
import type { FilterConfig, SpanMatch } from './config.js';

/** Finds the run of a trace the filter does not remember (the store answers from committed spans). */
export interface TraceDirectory {
  runKeyOfTrace(traceId: string): string | undefined;
}

export interface FilterCounters {
  dropped(reason: 'excluded', count: number): void;
}

export interface FilterOptions {
  readonly config: FilterConfig;
  /** Keys whose presence makes a span part of a run (run id, workflow name, kind). */
  readonly identityKeys: readonly string[];
  /** Keys of the run id; its value is the run key, else the trace id is. */
  readonly runIdKeys: readonly string[];
  readonly directory: TraceDirectory;
  readonly counters: FilterCounters;
}

/**
 * DESIGN §4: a span is kept when it or its trace carries a run identity, dropped when excluded, and
 * otherwise pending (its root may still come); pending spans are stored with no run key.
 */
export class SpanFilter implements SpanSink {
  /** traceId → run key, most recently used last; a cache in front of the directory. */
  private readonly traceRuns = new Map<string, string>();

  constructor(
    private readonly options: FilterOptions,
    private readonly next: SpanSink,
  ) {}

  consume(batch: SpanBatch): Promise<void> {
    const { config, counters } = this.options;
    const kept = batch.spans.filter((s) => !config.exclude.some((rule) => matches(rule, s)));
    if (kept.length < batch.spans.length) counters.dropped('excluded', batch.spans.length - kept.length);

    // DESIGN §4: the run key is the run id when the trace carries one, else the trace id. Run ids
    // bind their trace first, so a child earlier in the batch follows its root.
    const runIds = kept.map((s) => this.runIdOf(s));
    const identity = kept.map((s, i) => runIds[i] !== undefined || this.namesWorkflow(s));
    const claims = new Map<string, string>();
    kept.forEach((s, i) => {
      const runId = runIds[i];
      if (runId !== undefined && !claims.has(s.span.traceId)) claims.set(s.span.traceId, runId);
    });

    // One directory lookup per unknown trace and batch, not per span.
    const looked = new Map<string, string | null>();
    const runOfTrace = (traceId: string): string | null => {
      let runKey = claims.get(traceId) ?? looked.get(traceId);
      if (runKey === undefined) {
        runKey = this.lookup(traceId) ?? null;
        looked.set(traceId, runKey);
      }
      return runKey;
    };
    // A span that only names its workflow binds its trace to the trace id, unless a run id already did.
    kept.forEach((s, i) => {
      if (identity[i] && runIds[i] === undefined && runOfTrace(s.span.traceId) === null) {
        claims.set(s.span.traceId, s.span.traceId);
      }
    });
    for (const [traceId, runKey] of claims) this.remember(traceId, runKey);

    const spans = kept.map((s, i): BatchSpan => ({
      ...s,
      runKey: runIds[i] ?? runOfTrace(s.span.traceId),
      identity: identity[i]!,
    }));
    return this.next.consume({ spans, receivedNs: batch.receivedNs, claims });
  }

  private runIdOf({ span, resource }: BatchSpan): string | undefined {
    return firstText(this.options.runIdKeys, span.attributes, resource.attributes);
  }

  /** Whether a span without a run id still carries a run identity (workflow name, kind, include rule). */
  private namesWorkflow({ span, resource }: BatchSpan): boolean {
    const { identityKeys, config } = this.options;
    return (
      identityKeys.some((k) => span.attributes[k] !== undefined) ||
      (span.parentSpanId === '' && identityKeys.some((k) => resource.attributes[k] !== undefined)) ||
      config.include.some((rule) => matches(rule, { span, resource }))
    );
  }

  private lookup(traceId: string): string | undefined {
    const cached = this.traceRuns.get(traceId);
    if (cached !== undefined) {
      this.remember(traceId, cached);
      return cached;
    }
    const found = this.options.directory.runKeyOfTrace(traceId);
    if (found !== undefined) this.remember(traceId, found);
    return found;
  }

  private remember(traceId: string, runKey: string): void {
    this.traceRuns.delete(traceId);
    this.traceRuns.set(traceId, runKey);
    if (this.traceRuns.size > this.options.config.max_tracked_traces) {
      const oldest = this.traceRuns.keys().next().value;
      if (oldest !== undefined) this.traceRuns.delete(oldest);
    }
  }
}

export function firstText(keys: readonly string[], ...sources: Attributes[]): string | undefined {
  for (const attrs of sources) {
    for (const key of keys) {
      const text = attributeText(attrs[key]);
      if (text !== undefined && text !== '') return text;
    }
  }
  return undefined;
}

export function matches(rule: SpanMatch, { span, resource }: Pick<BatchSpan, 'span' | 'resource'>): boolean {
  if (rule.span_name !== undefined && span.name !== rule.span_name) return false;
  if (rule.span_name_prefix !== undefined && !span.name.startsWith(rule.span_name_prefix)) return false;
  if (rule.attribute !== undefined) {
    const value = span.attributes[rule.attribute] ?? resource.attributes[rule.attribute];
    if (value === undefined) return false;
    if (rule.equals !== undefined && attributeText(value) !== rule.equals) return false;
  }
  return true;
}
