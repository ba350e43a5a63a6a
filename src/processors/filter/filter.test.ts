import { describe, expect, it } from 'vitest';
import { resolveFieldKeys, runIdentityKeys } from '../../evidence/fields.js';
import type { Attributes } from '../../otlp/attributes.js';
import type { IntakeResource, IntakeScope, IntakeSpan } from '../../otlp/intake-request.js';
import type { BatchSpan, SpanBatch } from '../../pipeline/span-batch.js';
import type { SpanSink } from '../../pipeline/span-sink.js';
import { filterConfigSchema } from './config.js';
import { SpanFilter, type TraceDirectory } from './filter.js';
import { RunIdentity } from '../../runs/run-identity.js';
import { Recognisers } from '../../evidence/recognisers.js';
import { FailingSink, RecordingSink } from '../../../test/support/sinks.js';

const TRACE_A = 'aa'.repeat(16);
const TRACE_B = 'bb'.repeat(16);
const TRACE_C = 'cc'.repeat(16);



/** A TraceDirectory that answers from a map and records every question. */
class FakeDirectory implements TraceDirectory {
  readonly asked: string[] = [];

  constructor(
    private readonly known: Record<string, string> = {},
    private readonly knownSpans: Record<string, string> = {},
  ) {}

  runKeyOfTrace(traceId: string): string | undefined {
    this.asked.push(traceId);
    return this.known[traceId];
  }

  runKeyOfSpan(traceId: string, spanId: string): string | undefined {
    return this.knownSpans[`${traceId}/${spanId}`];
  }
}

interface SpanSpec {
  trace: string;
  id: string;
  parent?: string;
  name?: string;
  attributes?: Attributes;
  resource?: IntakeResource;
}

function makeResource(attributes: Attributes = { 'service.name': 'svc' }): IntakeResource {
  return { body: new Uint8Array([1]), attributes, schemaUrl: '', scopes: [] };
}

const DEFAULT_RESOURCE = makeResource();
const SCOPE: IntakeScope = { body: new Uint8Array(0), schemaUrl: '', spans: [] };

function batchSpan(spec: SpanSpec): BatchSpan {
  const span: IntakeSpan = {
    traceId: spec.trace,
    spanId: spec.id.padStart(16, '0'),
    parentSpanId: spec.parent === undefined ? '' : spec.parent.padStart(16, '0'),
    name: spec.name ?? 'step',
    kind: 1,
    startNs: 1n,
    endNs: 2n,
    statusCode: 0,
    statusMessage: '',
    attributes: spec.attributes ?? {},
    body: new Uint8Array(0),
  };
  return { span, resource: spec.resource ?? DEFAULT_RESOURCE, scope: SCOPE, runKey: null, rootCandidate: false };
}

function batchOf(...specs: SpanSpec[]): SpanBatch {
  return { spans: specs.map(batchSpan), receivedNs: 1_000n, claims: [] };
}

/** A filter passing to a RecordingSink (`next`), unless another next stage is given. */
function createFilter(options: { config?: unknown; directory?: FakeDirectory; next?: SpanSink; agentRuns?: boolean } = {}) {
  const keys = resolveFieldKeys({});
  const directory = options.directory ?? new FakeDirectory();
  const recording = new RecordingSink();
  const dropped: Array<{ reason: string; count: number }> = [];
  const config = filterConfigSchema.parse(options.config ?? {});
  const filter = new SpanFilter(config, options.next ?? recording, {
    identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys), config.include, options.agentRuns === true ? new Recognisers() : undefined),
    directory,
    counters: { dropped: (reason, count) => dropped.push({ reason, count }) },
  });
  return { filter, directory, next: recording, dropped };
}

/** spanId → runKey of what the filter passed on. */
function runKeys(batch: SpanBatch): Record<string, string | null> {
  return Object.fromEntries(batch.spans.map((s) => [s.span.spanId.replace(/^0+/, ''), s.runKey]));
}

describe('SpanFilter', () => {
  it('gives a span carrying nhi.workflow.run.id that run key', async () => {
    const { filter, next } = createFilter();

    await filter.consume(batchOf({ trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'run-42' } }));

    expect(runKeys(next.last)).toEqual({ 1: 'run-42' });
    expect(next.last.spans[0]!.rootCandidate).toBe(true);
  });

  it('prefers cicd.pipeline.run.id, the semantic-convention key, over nhi.workflow.run.id', async () => {
    const { filter, next } = createFilter();

    await filter.consume(
      batchOf({ trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'nhi-1', 'cicd.pipeline.run.id': 'ci-1' } }),
    );

    expect(runKeys(next.last)).toEqual({ 1: 'ci-1' });
  });

  it("routes a child to its root's run key even when the child comes first in the batch", async () => {
    const { filter, next, directory } = createFilter();

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '2', parent: '1' },
        { trace: TRACE_A, id: '3', parent: '2' },
        { trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'run-42' } },
      ),
    );

    expect(runKeys(next.last)).toEqual({ 2: 'run-42', 3: 'run-42', 1: 'run-42' });
    expect(next.last.spans.map((s) => s.rootCandidate)).toEqual([false, false, true]);
    expect(directory.asked).toEqual([]);
  });

  it('uses the trace id as run key for a trace that only names its workflow', async () => {
    const { filter, next } = createFilter();

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '2', parent: '1' },
        { trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.name': 'rotate-keys' } },
      ),
    );

    expect(runKeys(next.last)).toEqual({ 2: TRACE_A, 1: TRACE_A });
  });

  // Regression guard (fixed bug in src/processors/filter/filter.ts consume): a span that names only its workflow gets the trace
  // id as its own run key and may bind the trace before the root's run id does, so one run splits in
  // two (DESIGN §4: run key = the run id attribute if present, else the trace id).
  it('keeps a child that names only its workflow in the run its root names by run id', async () => {
    const { filter, next } = createFilter();

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '2', parent: '1', attributes: { 'cicd.pipeline.name': 'deploy' } },
        { trace: TRACE_A, id: '3', parent: '2' },
        { trace: TRACE_A, id: '1', attributes: { 'cicd.pipeline.name': 'deploy', 'cicd.pipeline.run.id': 'ci-7' } },
      ),
    );

    expect(runKeys(next.last)).toEqual({ 2: 'ci-7', 3: 'ci-7', 1: 'ci-7' });
    expect(next.last.claims).toEqual([{ traceId: TRACE_A, runKey: 'ci-7', rootSpanId: null }]);
  });

  it('keeps a later child that names only its workflow in the run id its trace is bound to', async () => {
    const { filter, next } = createFilter();
    await filter.consume(batchOf({ trace: TRACE_A, id: '1', attributes: { 'cicd.pipeline.run.id': 'ci-7' } }));

    await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1', attributes: { 'cicd.pipeline.name': 'deploy' } }));
    await filter.consume(batchOf({ trace: TRACE_A, id: '3', parent: '2' }));

    expect(runKeys(next.batches[1]!)).toEqual({ 2: 'ci-7' });
    expect(runKeys(next.batches[2]!)).toEqual({ 3: 'ci-7' });
  });

  it('leaves spans of an unknown trace pending, with no run key', async () => {
    const { filter, next } = createFilter();

    await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1' }));

    expect(runKeys(next.last)).toEqual({ 2: null });
    expect(next.last.spans[0]!.rootCandidate).toBe(false);
    expect(next.last.claims).toEqual([]);
  });

  it('asks the directory once per unknown trace and batch, not once per span', async () => {
    const { filter, directory } = createFilter();

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '2', parent: '1' },
        { trace: TRACE_B, id: '5', parent: '4' },
        { trace: TRACE_A, id: '3', parent: '1' },
        { trace: TRACE_B, id: '6', parent: '4' },
        { trace: TRACE_A, id: '4', parent: '3' },
      ),
    );

    expect(directory.asked.sort()).toEqual([TRACE_A, TRACE_B]);
  });

  it('routes spans of a trace the directory knows to its run', async () => {
    const { filter, next } = createFilter({ directory: new FakeDirectory({ [TRACE_A]: 'run-9' }) });

    await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1' }, { trace: TRACE_A, id: '3', parent: '1' }));

    expect(runKeys(next.last)).toEqual({ 2: 'run-9', 3: 'run-9' });
    // Routed spans are not claims: the trace was bound by an earlier batch.
    expect(next.last.claims).toEqual([]);
  });

  it('routes a later child of a trace it bound through its cache, without asking the directory', async () => {
    const { filter, next, directory } = createFilter();
    await filter.consume(batchOf({ trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'run-42' } }));

    await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1' }));

    expect(runKeys(next.last)).toEqual({ 2: 'run-42' });
    expect(directory.asked).toEqual([]);
  });

  it('remembers what the directory answered, so the next batch of that trace does not ask again', async () => {
    const { filter, next, directory } = createFilter({ directory: new FakeDirectory({ [TRACE_A]: 'run-9' }) });
    await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1' }));

    await filter.consume(batchOf({ trace: TRACE_A, id: '3', parent: '1' }));

    expect(runKeys(next.last)).toEqual({ 3: 'run-9' });
    expect(directory.asked).toEqual([TRACE_A]);
  });

  it('forgets the least recently used trace beyond max_tracked_traces and asks the directory again', async () => {
    const directory = new FakeDirectory({ [TRACE_A]: 'run-a' });
    const { filter, next } = createFilter({ config: { max_tracked_traces: 1 }, directory });
    await filter.consume(batchOf({ trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'run-a' } }));
    await filter.consume(batchOf({ trace: TRACE_B, id: '1', attributes: { 'nhi.workflow.run.id': 'run-b' } }));

    await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1' }));

    expect(runKeys(next.last)).toEqual({ 2: 'run-a' });
    expect(directory.asked).toEqual([TRACE_A]);
  });

  it('drops spans matching an exclude rule and counts them', async () => {
    const healthcheck = makeResource({ 'service.name': 'healthcheck' });
    const { filter, next, dropped } = createFilter({
      config: { exclude: [{ attribute: 'service.name', equals: 'healthcheck' }, { span_name: 'GET /healthz' }] },
    });

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '1', resource: healthcheck, attributes: { 'nhi.workflow.run.id': 'run-1' } },
        { trace: TRACE_A, id: '2', parent: '1', resource: healthcheck },
        { trace: TRACE_B, id: '3', name: 'GET /healthz' },
        { trace: TRACE_C, id: '4', attributes: { 'nhi.workflow.run.id': 'run-2' } },
      ),
    );

    expect(runKeys(next.last)).toEqual({ 4: 'run-2' });
    expect(dropped).toEqual([{ reason: 'excluded', count: 3 }]);
    // An excluded span binds nothing.
    expect(next.last.claims).toEqual([{ traceId: TRACE_C, runKey: 'run-2', rootSpanId: null }]);
  });

  it('counts nothing when no span is excluded', async () => {
    const { filter, dropped } = createFilter({ config: { exclude: [{ span_name: 'GET /healthz' }] } });

    await filter.consume(batchOf({ trace: TRACE_A, id: '1' }));

    expect(dropped).toEqual([]);
  });

  it('makes a run of a span matching an include rule, keyed by its trace id', async () => {
    const { filter, next } = createFilter({ config: { include: [{ span_name_prefix: 'deploy ' }] } });

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '2', parent: '1', name: 'kubectl apply' },
        { trace: TRACE_A, id: '1', name: 'deploy production' },
        { trace: TRACE_B, id: '3', name: 'undeploy production' },
      ),
    );

    expect(runKeys(next.last)).toEqual({ 2: TRACE_A, 1: TRACE_A, 3: null });
    expect(next.last.claims).toEqual([{ traceId: TRACE_A, runKey: TRACE_A, rootSpanId: null }]);
  });

  it('applies a resource-level cicd.pipeline.run.id to every span of that resource', async () => {
    const pipeline = makeResource({ 'service.name': 'ci', 'cicd.pipeline.run.id': 'ci-99' });
    const { filter, next, directory } = createFilter();

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '2', parent: '1', resource: pipeline },
        { trace: TRACE_B, id: '5', parent: '4', resource: pipeline },
        { trace: TRACE_C, id: '7', parent: '6' },
      ),
    );

    expect(runKeys(next.last)).toEqual({ 2: 'ci-99', 5: 'ci-99', 7: null });
    expect(directory.asked).toEqual([TRACE_C]);
  });

  it('lets a resource-level workflow name bind only root spans by themselves', async () => {
    const agent = makeResource({ 'service.name': 'agent', 'gen_ai.workflow.name': 'triage' });
    const { filter, next } = createFilter();

    await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1', resource: agent }));
    await filter.consume(batchOf({ trace: TRACE_B, id: '1', resource: agent }, { trace: TRACE_B, id: '2', parent: '1', resource: agent }));

    expect(runKeys(next.batches[0]!)).toEqual({ 2: null });
    expect(runKeys(next.batches[1]!)).toEqual({ 1: TRACE_B, 2: TRACE_B });
  });

  it('claims every trace bound by a span of the batch, with its run key', async () => {
    const { filter, next } = createFilter({ directory: new FakeDirectory({ [TRACE_C]: 'run-c' }) });

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'run-a' } },
        { trace: TRACE_A, id: '2', parent: '1', attributes: { 'nhi.workflow.run.id': 'run-a' } },
        { trace: TRACE_B, id: '3', attributes: { 'nhi.workflow.kind': 'rotation' } },
        { trace: TRACE_C, id: '4', parent: '1' },
      ),
    );

    expect(next.last.claims).toEqual([
      { traceId: TRACE_A, runKey: 'run-a', rootSpanId: null },
      { traceId: TRACE_B, runKey: TRACE_B, rootSpanId: null },
    ]);
  });

  it('keeps two runs of one trace apart: each child follows its nearest ancestor with a run id', async () => {
    const { filter, next } = createFilter();

    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '1', name: 'reconcile' },
        { trace: TRACE_A, id: '2', parent: '1', attributes: { 'nhi.workflow.run.id': 'rot-a' } },
        { trace: TRACE_A, id: '3', parent: '1', attributes: { 'nhi.workflow.run.id': 'rot-b' } },
        { trace: TRACE_A, id: '4', parent: '2' },
        { trace: TRACE_A, id: '5', parent: '3' },
        { trace: TRACE_A, id: '6', parent: '5' },
      ),
    );

    expect(runKeys(next.last)).toEqual({ 1: 'rot-a', 2: 'rot-a', 3: 'rot-b', 4: 'rot-a', 5: 'rot-b', 6: 'rot-b' });
    expect(next.last.claims).toEqual([
      { traceId: TRACE_A, runKey: 'rot-a', rootSpanId: '2'.padStart(16, '0') },
      { traceId: TRACE_A, runKey: 'rot-b', rootSpanId: '3'.padStart(16, '0') },
    ]);
  });

  it('routes a later child of a multi-run trace by its stored parent', async () => {
    const parentKey = `${TRACE_A}/${'3'.padStart(16, '0')}`;
    const { filter, next } = createFilter({ directory: new FakeDirectory({}, { [parentKey]: 'rot-b' }) });
    await filter.consume(
      batchOf(
        { trace: TRACE_A, id: '2', parent: '1', attributes: { 'nhi.workflow.run.id': 'rot-a' } },
        { trace: TRACE_A, id: '3', parent: '1', attributes: { 'nhi.workflow.run.id': 'rot-b' } },
      ),
    );

    await filter.consume(batchOf({ trace: TRACE_A, id: '7', parent: '3' }));

    expect(runKeys(next.last)).toEqual({ 7: 'rot-b' });
  });

  describe('with agent_runs', () => {
    const agent = { 'ai.operationId': 'ai.generateText', 'ai.telemetry.functionId': 'support-triage' };
    const tool = { 'ai.operationId': 'ai.toolCall', 'ai.toolCall.name': 'lookup_order' };

    it('makes a run of an agent trace, keyed by its trace id, once the trace root is in (here an HTTP server span)', async () => {
      const { filter, next } = createFilter({ agentRuns: true });

      await filter.consume(batchOf({ trace: TRACE_A, id: '3', parent: '2', attributes: tool }, { trace: TRACE_A, id: '2', parent: '1', attributes: agent }));
      expect(runKeys(next.last)).toEqual({ 3: null, 2: null });

      await filter.consume(batchOf({ trace: TRACE_A, id: '1', name: 'POST /api/chat' }));
      expect(runKeys(next.last)).toEqual({ 1: TRACE_A });
      expect(next.last.spans[0]!.rootCandidate).toBe(true);
      expect(next.last.claims).toEqual([{ traceId: TRACE_A, runKey: TRACE_A, rootSpanId: null }]);
    });

    it('makes a run at once of an agent span that is its trace root', async () => {
      const { filter, next } = createFilter({ agentRuns: true });

      await filter.consume(batchOf({ trace: TRACE_A, id: '2', parent: '1', attributes: tool }, { trace: TRACE_A, id: '1', attributes: agent }));

      expect(runKeys(next.last)).toEqual({ 2: TRACE_A, 1: TRACE_A });
    });

    it('leaves an agent inside a workflow to that workflow, although its spans came first', async () => {
      const { filter, next } = createFilter({ agentRuns: true });

      await filter.consume(batchOf({ trace: TRACE_A, id: '3', parent: '2', attributes: tool }, { trace: TRACE_A, id: '2', parent: '1', attributes: agent }));
      await filter.consume(batchOf({ trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'run-42' } }));

      expect(runKeys(next.last)).toEqual({ 1: 'run-42' });
      expect(next.last.claims).toEqual([{ traceId: TRACE_A, runKey: 'run-42', rootSpanId: null }]);
    });

    it('makes no run of an agent trace when agent_runs is off', async () => {
      const { filter, next } = createFilter();

      await filter.consume(batchOf({ trace: TRACE_A, id: '1', attributes: agent }));

      expect(runKeys(next.last)).toEqual({ 1: null });
      expect(next.last.claims).toEqual([]);
    });
  });

  it('does not modify the batch it was given', async () => {
    const { filter } = createFilter();
    const batch = batchOf({ trace: TRACE_A, id: '1', attributes: { 'nhi.workflow.run.id': 'run-42' } });

    await filter.consume(batch);

    expect(batch.spans[0]!.runKey).toBeNull();
    expect(batch.claims).toEqual([]);
  });

  it('keeps the received time of the batch', async () => {
    const { filter, next } = createFilter();

    await filter.consume(batchOf({ trace: TRACE_A, id: '1' }));

    expect(next.last.receivedNs).toBe(1_000n);
  });

  it("rejects with the next stage's error", async () => {
    const { filter } = createFilter({ next: new FailingSink() });

    await expect(filter.consume(batchOf({ trace: TRACE_A, id: '1' }))).rejects.toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
      retryable: true,
    });
  });
});
