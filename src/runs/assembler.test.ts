import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createChainFixture, type ChainFixture } from '../../test/support/chain-fixture.js';
import { evaluateRun } from '../evidence/evaluate.js';
import { awaitsRoot } from '../evidence/run-root.js';
import { resolveFieldKeys, runIdentityKeys } from '../evidence/fields.js';
import { resolveProfiles } from '../evidence/profiles.js';
import { EvidenceReader } from '../evidence/steps.js';
import { Long, Span } from '../otlp/proto.js';
import { RunStore } from '../store/run-store.js';
import { RunAssembler } from './assembler.js';
import { appendBatch, type RevisionSink } from './history-writer.js';
import { RunLoader } from './run-loader.js';
import type { EvaluationReason } from './seal.js';
import { runsConfigSchema, type RunsConfig } from './config.js';
import { RunIdentity } from './run-identity.js';

/** The assembler over a real store, with the clock in the test's hand (runs are judged by calling evaluateDue). */

const fixtures: ChainFixture[] = [];
const assemblers: RunAssembler[] = [];
afterEach(async () => {
  for (const a of assemblers.splice(0)) await a.shutdown();
  for (const f of fixtures.splice(0)) f.close();
});

const keys = resolveFieldKeys({});
const context = {
  reader: new EvidenceReader(keys),
  profiles: resolveProfiles({}),
  identity: new RunIdentity(keys['run.id'], runIdentityKeys(keys)),
};
const T0 = 1_795_763_076_000_000_000n;
const ms = (n: number) => BigInt(n) * 1_000_000n;

interface Judged {
  readonly runKey: string;
  readonly reason: EvaluationReason;
  readonly codes: readonly string[];
  readonly spans: number;
}

/** `saveThrough` may put something between the assembler and the store's save (a delayed answer). */
function setUp(runs: Partial<RunsConfig>, saveThrough: (sink: RevisionSink) => RevisionSink = (sink) => sink) {
  const f = createChainFixture();
  fixtures.push(f);
  const clock = { now: T0 };
  const judged: Judged[] = [];
  const capped: string[] = [];
  const duplicates: number[] = [];
  const open: number[] = [];
  const store = new RunStore(f.db, f.writer);
  // Saved on this thread, at once: the tests read the store right after each pass.
  const sink: RevisionSink = { save: async (batch) => ({ ...f.db.transaction(() => appendBatch(store, batch))(), intakeIdle: true }) };
  const assembler = new RunAssembler(runsConfigSchema.parse({ settle_ms: 1000, max_open_ms: 60_000, ...runs }), saveThrough(sink), {
    store,
    loader: new RunLoader(store),
    judge: { evaluate: (input, history) => evaluateRun(input, { ...context, history }), awaitsRoot: (spans) => awaitsRoot(spans, context.identity) },
    events: {
      evaluated: ({ runKey, reason, summary }) => judged.push({ runKey, reason, codes: [...summary.findingCodes], spans: summary.spanCount }),
      capped: (cap) => capped.push(cap),
      duplicates: (count) => duplicates.push(count),
      evaluationFailed: () => {
        throw new Error('evaluation failed');
      },
      openRuns: (count) => open.push(count),
    },
    logger: pino({ level: 'silent' }),
    now: () => clock.now,
  });
  assemblers.push(assembler);

  /**
   * A span of a run as intake stores it, with the run's index row: the run's root (named after the
   * run), a later step under it (`step`), or a child whose parent never came (`rootless`).
   */
  const arrive = (runKey: string, atMs: number, shape: 'root' | 'step' | 'rootless' = 'root') => {
    const at = T0 + ms(atMs);
    const root = Buffer.from(runKey.padEnd(8, '0').slice(0, 8), 'utf8');
    const spanId = shape === 'step' ? Buffer.from(`s${atMs}`.padEnd(8, '0').slice(0, 8), 'utf8') : root;
    const parent = shape === 'step' ? root : shape === 'rootless' ? Buffer.alloc(8, 9) : undefined;
    const body = Span.encode(
      Span.fromObject({
        traceId: Buffer.alloc(16, 7),
        spanId,
        ...(parent !== undefined ? { parentSpanId: parent } : {}),
        name: shape === 'step' ? `step at ${atMs}` : `workflow ${runKey}`,
        startTimeUnixNano: Long.fromString(at.toString(), true),
        endTimeUnixNano: Long.fromString((at + ms(5)).toString(), true),
        attributes: [
          { key: 'nhi.workflow.run.id', value: { stringValue: runKey } },
          { key: 'nhi.workflow.name', value: { stringValue: 'unit-assembler' } },
        ],
      }),
    ).finish();
    f.db
      .prepare(
        `INSERT INTO spans (run_key, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, resource_id, scope_id, body, received_ns)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?, 0, 1, 1, ?, ?)`,
      )
      .run(runKey, '07'.repeat(16), spanId.toString('hex'), parent?.toString('hex') ?? '', 'span', at, at + ms(5), body, at);
    f.db
      .prepare(
        `INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count) VALUES (?, 'open', ?, ?, ?, 1)
         ON CONFLICT (run_key) DO UPDATE SET state = 'open', last_received_ns = excluded.last_received_ns, span_count = span_count + 1`,
      )
      .run(runKey, at, at, shape === 'root' ? 1 : 0);
  };
  return { assembler, store, clock, judged, capped, duplicates, open, arrive };
}

describe('RunAssembler settling', () => {
  it('judges again a run that got a span after its save committed but before the save was answered', async () => {
    const answers: Array<() => void> = [];
    const { assembler, clock, judged, arrive } = setUp({ settle_ms: 1000 }, (sink) => ({
      // Committed at once, answered when the test says: the intake writer's answer still on its way.
      save: (batch) => sink.save(batch).then((saved) => new Promise((resolve) => answers.push(() => resolve(saved)))),
    }));
    arrive('r', 0);
    assembler.touched(['r']);
    clock.now = T0 + ms(1000);
    const first = assembler.evaluateDue();
    await vi.waitFor(() => expect(answers).toHaveLength(1));

    arrive('r', 1500, 'step');
    assembler.touched(['r']);
    answers[0]!();
    await first;
    clock.now = T0 + ms(2600);
    const second = assembler.evaluateDue();
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    answers[1]!();
    await second;
    expect(judged.map((j) => [j.runKey, j.reason, j.spans])).toEqual([
      ['r', 'settled', 1],
      ['r', 'amended', 2],
    ]);
  });
});

describe('RunAssembler timing', () => {
  it('restarts the settle window with every span: a run is judged once, settle_ms after its last span', async () => {
    const { assembler, clock, judged, arrive } = setUp({ settle_ms: 1000 });
    arrive('r', 0);
    assembler.touched(['r']);
    clock.now = T0 + ms(800);
    arrive('r', 800, 'step');
    assembler.touched(['r']);

    clock.now = T0 + ms(1500); // settled by its root alone, but not by its last span
    expect(await assembler.evaluateDue()).toBe(0);
    expect(judged).toEqual([]);
    clock.now = T0 + ms(1800);
    await assembler.evaluateDue();
    expect(judged.map((j) => [j.runKey, j.reason, j.spans])).toEqual([['r', 'settled', 2]]);
  });

  it('takes due runs in their turn across passes, but not one that got a span since it was found due', async () => {
    const { assembler, clock, judged, arrive } = setUp({ settle_ms: 1000 });
    for (const [at, key] of [[0, 'a'], [10, 'b'], [20, 'c']] as const) arrive(key, at);
    assembler.touched(['a', 'b', 'c']);
    clock.now = T0 + ms(1100);
    // A pass out of time before judging any: all three wait, found due.
    expect(await assembler.evaluateDue(-1)).toBe(3);
    arrive('b', 1100, 'step');
    assembler.touched(['b']);

    clock.now = T0 + ms(1200);
    await assembler.evaluateDue();
    expect(judged.map((j) => j.runKey)).toEqual(['a', 'c']);
    clock.now = T0 + ms(2100);
    await assembler.evaluateDue();
    expect(judged.map((j) => [j.runKey, j.reason, j.spans])).toEqual([
      ['a', 'settled', 1],
      ['c', 'settled', 1],
      ['b', 'settled', 2],
    ]);
  });

  it('judges a run without a root max_open_ms after its first span, however many spans keep coming', async () => {
    const { assembler, clock, judged, arrive } = setUp({ settle_ms: 1000, max_open_ms: 5000 });
    for (const at of [0, 2000, 4000, 4900]) {
      clock.now = T0 + ms(at);
      arrive('r', at, at === 0 ? 'rootless' : 'step');
      assembler.touched(['r']);
      await assembler.evaluateDue();
    }
    expect(judged).toEqual([]);
    clock.now = T0 + ms(5000);
    await assembler.evaluateDue();
    expect(judged.map((j) => [j.runKey, j.reason, j.spans, j.codes.includes('root_span_missing')])).toEqual([['r', 'max_open', 4, true]]);
  });
});

describe('RunAssembler under the open-run cap', () => {
  it('caps runs still collecting spans beyond max_open_runs, oldest first, and judges them early with run_capped', async () => {
    const { assembler, clock, judged, capped, arrive } = setUp({ max_open_runs: 2 });
    for (const [i, key] of ['r1', 'r2', 'r3'].entries()) arrive(key, i, 'rootless');
    assembler.touched(['r1', 'r2', 'r3']);
    expect(capped).toEqual(['max_open_runs']);

    clock.now = T0 + ms(10);
    expect(await assembler.evaluateDue()).toBe(0);
    expect(judged).toEqual([{ runKey: 'r1', reason: 'capped', codes: expect.arrayContaining(['run_capped']), spans: 1 }]);
  });

  it('does not cap runs that are due and wait to be judged: new runs wait in the store and are read back in turn', async () => {
    const { assembler, clock, judged, capped, open, arrive } = setUp({ max_open_runs: 3 });
    for (const [i, key] of ['r1', 'r2', 'r3'].entries()) arrive(key, i);
    assembler.touched(['r1', 'r2', 'r3']);
    clock.now = T0 + ms(5_000);
    // Judging is behind: a pass ran out of time before judging any of the three due runs.
    expect(await assembler.evaluateDue(-1)).toBe(3);

    arrive('r4', 4_000);
    arrive('r5', 4_001);
    assembler.touched(['r4', 'r5']);
    expect(capped).toEqual([]);
    expect(open.at(-1)).toBe(5);

    clock.now = T0 + ms(10_000);
    expect(await assembler.evaluateDue()).toBe(0);
    expect(judged.map((j) => j.runKey)).toEqual(['r1', 'r2', 'r3']);
    // The next pass finds nothing due in memory and reads back the runs left in the store.
    expect(await assembler.evaluateDue()).toBe(0);
    expect(judged.map((j) => j.runKey)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(judged.every((j) => j.reason === 'settled' && !j.codes.includes('run_capped'))).toBe(true);
    expect(open.at(-1)).toBe(0);
  });

  it('does not cap a due run when new runs push memory past the cap between passes', async () => {
    const { assembler, clock, judged, capped, arrive } = setUp({ max_open_runs: 2 });
    arrive('due', 0);
    arrive('quiet', 1, 'rootless');
    assembler.touched(['due', 'quiet']);
    clock.now = T0 + ms(5_000);
    arrive('new', 4_999, 'rootless');
    assembler.touched(['new']);
    // The due run is judged at the next pass anyway; the rootless one still collecting is capped.
    expect(capped).toEqual(['max_open_runs']);
    await assembler.evaluateDue();
    expect(judged.map((j) => [j.runKey, j.reason])).toEqual([
      ['due', 'settled'],
      ['quiet', 'capped'],
    ]);
  });

  it('resumes at most max_open_runs runs from the store at start, and the rest as judging makes room', async () => {
    const { assembler, clock, judged, open, arrive } = setUp({ max_open_runs: 2 });
    for (const [i, key] of ['r1', 'r2', 'r3', 'r4', 'r5'].entries()) arrive(key, i);
    clock.now = T0 + ms(5_000);
    await assembler.start();
    expect(open.at(-1)).toBe(5);
    let passes = 0;
    while (judged.length < 5 && passes++ < 10) await assembler.evaluateDue();
    expect(judged.map((j) => j.runKey)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    // Two per pass at most (the memory cap): each later pass finds memory empty and reads back two more.
    expect(passes).toBe(3);
    expect(open.at(-1)).toBe(0);
  });
});

describe('RunAssembler and re-exports (DESIGN §4: an amendment is an amendment)', () => {
  it('adds no revision when only copies of spans it judged arrive, whatever they carry, and counts the copies', async () => {
    const { assembler, store, clock, judged, duplicates, arrive } = setUp({ settle_ms: 1000 });
    arrive('r', 0);
    assembler.touched(['r']);
    clock.now = T0 + ms(1500);
    await assembler.evaluateDue();
    expect(judged.map((j) => [j.runKey, j.reason])).toEqual([['r', 'settled']]);

    // The exporter resends the root after a lost answer, with another start time: a copy, not news.
    clock.now = T0 + ms(3000);
    arrive('r', 3000);
    assembler.touched(['r']);
    expect(store.runState('r')).toMatchObject({ state: 'open', revision: 1 });
    clock.now = T0 + ms(4500);
    await assembler.evaluateDue();
    expect(judged).toHaveLength(1);
    expect(duplicates).toEqual([1]);
    expect(store.runState('r')).toMatchObject({ state: 'evaluated', revision: 1, judgedSpans: 1, duplicateSpans: 1 });
    expect(new RunLoader(store).loadRun('r').spans.map((s) => s.startNs)).toEqual([T0]);
  });

  it('still amends the run with a span that is really new, counting each copy once', async () => {
    const { assembler, store, clock, judged, duplicates, arrive } = setUp({ settle_ms: 1000 });
    arrive('r', 0);
    assembler.touched(['r']);
    clock.now = T0 + ms(1500);
    await assembler.evaluateDue();
    arrive('r', 2000); // a copy of the root
    arrive('r', 2100, 'step'); // and a new step
    assembler.touched(['r']);
    clock.now = T0 + ms(3500);
    await assembler.evaluateDue();
    expect(judged.map((j) => [j.reason, j.spans])).toEqual([
      ['settled', 1],
      ['amended', 2],
    ]);
    expect(store.runState('r')).toMatchObject({ revision: 2, judgedSpans: 2, duplicateSpans: 1 });
    // A later copy of the step: counted once more, no third revision.
    arrive('r', 2100, 'step');
    assembler.touched(['r']);
    clock.now = T0 + ms(5000);
    await assembler.evaluateDue();
    expect(judged).toHaveLength(2);
    expect(duplicates).toEqual([1, 1]);
  });
});
