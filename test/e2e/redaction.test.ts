import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_CONTEXT, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelSender, type OtelSender } from '../support/otel-sender.js';
import { parseExposition, type Exposition } from '../support/prometheus-text.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { runledgerCli, waitForRuns } from '../support/runs-cli.js';
import {
  CORPUS_REDACTION_CONFIG,
  NON_SECRETS,
  SECRETS,
  type NonSecretSample,
  type SampleValue,
  type SecretSample,
} from '../support/secret-corpus.js';
import { readDb } from '../support/stored-spans.js';
import { newRunId, runAttributes, StepClock, type RunFields } from '../support/workflows.js';
import { PATIENCE_MS } from '../support/patience.js';

/**
 * DESIGN §7 redaction end to end: the secret corpus (test/support/secret-corpus.ts) sent by the real
 * OTel SDK exporter inside workflow runs — in resource attributes (one tracer provider per resource,
 * flat and nested in a kvlist), span attributes, array elements, event and link attributes — then every
 * place a value could surface searched for it in clear: the SQLite file and its WAL (after SIGKILL, and
 * after SIGTERM), the process logs at debug level, the HTTP API, `runledger export` and /metrics. The
 * non-secret corpus goes the same way and must come back untouched.
 *
 * Two servers on one directory: `first` gets copies "a" and "b" of the corpus (the same secrets in other
 * places and other runs) and the non-secrets, and is killed with SIGKILL; `second` restarts on the same
 * directory (and so the same HMAC key file), gets copy "c", and stops with SIGTERM.
 */

const PLACEMENTS = ['resource', 'resource_kvlist', 'span', 'array', 'event', 'link'] as const;
type Placement = (typeof PLACEMENTS)[number];
/** The resource kvlist attribute nested secrets are sent under. */
const CONTEXT_KEY = 'nhi.resource.context';
const GROUPS = 4;
const SPAN_NAMES = { root: 'workflow e2e-redaction', span: 'carry span attributes', event: 'carry an event', link: 'carry a link' } as const;
const EVENT_NAME = 'credential.issued';
const HASHED = /^redacted:hmac-sha256:[0-9a-f]{32}$/;

interface SpanJson {
  readonly span_id: string;
  readonly name: string;
  readonly attributes: Record<string, unknown>;
  readonly resource: Record<string, unknown>;
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes: Record<string, unknown> }>;
  readonly links: ReadonlyArray<{ readonly attributes: Record<string, unknown> }>;
}

interface RedactionView {
  readonly span_id: string;
  readonly target: string;
  readonly key: string;
  readonly reason: string;
}

interface RunJson {
  readonly run_id: string;
  readonly state: string;
  readonly redactions?: readonly RedactionView[];
}

interface BundleJson {
  readonly run: RunJson;
  readonly revisions: readonly RunJson[];
  readonly spans: readonly SpanJson[];
}

/** The spans of one emitted run, by role. */
interface CarrierSpans {
  readonly root: string;
  readonly span: string;
  readonly event: string;
  readonly link: string;
}

interface SentRun {
  readonly runId: string;
  readonly copy: string;
  readonly spans: CarrierSpans;
}

/** One secret sent once: which copy, run and place. */
interface PlacedSecret {
  readonly sample: SecretSample;
  readonly copy: string;
  readonly run: SentRun;
  readonly placement: Placement;
}

interface PlacedPlain {
  readonly sample: NonSecretSample;
  readonly placement: 'resource' | 'span' | 'event' | 'link';
}

/** What one server showed: the API answers, `export`, /metrics and its logs, by label. */
interface Observed {
  readonly outputs: Map<string, Buffer>;
  readonly bundles: Map<string, BundleJson>;
  readonly runs: Map<string, RunJson>;
  readonly metrics: Exposition;
}

/** Where a placed value is found in a span of the evidence bundle. */
function valueIn(bundle: BundleJson, placed: { placement: Placement; key: string; spans: CarrierSpans }): unknown {
  const span = (id: string) => {
    const found = bundle.spans.find((s) => s.span_id === id);
    if (found === undefined) throw new Error(`span ${id} is not in the bundle of ${bundle.run.run_id}`);
    return found;
  };
  switch (placed.placement) {
    case 'resource':
      return span(placed.spans.root).resource[placed.key];
    case 'resource_kvlist':
      return (span(placed.spans.root).resource[CONTEXT_KEY] as Record<string, unknown> | undefined)?.[placed.key];
    case 'span':
      return span(placed.spans.span).attributes[placed.key];
    case 'array':
      return (span(placed.spans.span).attributes[placed.key] as unknown[] | undefined)?.[1];
    case 'event':
      return span(placed.spans.event).events[0]?.attributes[placed.key];
    case 'link':
      return span(placed.spans.link).links[0]?.attributes[placed.key];
  }
}

/** The redaction records a placed secret must leave in its run: `span_id target key reason`. */
function expectedRecords(p: PlacedSecret): string[] {
  const { key } = p.sample;
  const all = Object.values(p.run.spans);
  switch (p.placement) {
    case 'resource':
      return all.map((id) => `${id} resource attributes.${key} ${p.sample.reason}`);
    case 'resource_kvlist':
      return all.map((id) => `${id} resource attributes.${CONTEXT_KEY}.${key} ${p.sample.reason}`);
    case 'span':
      return [`${p.run.spans.span} span attributes.${key} ${p.sample.reason}`];
    case 'array':
      // Under a secret or configured key every element goes, the harmless first one too.
      return [
        ...(redactsWholeKey(p.sample) ? [`${p.run.spans.span} span attributes.${key}[0] ${p.sample.reason}`] : []),
        `${p.run.spans.span} span attributes.${key}[1] ${p.sample.reason}`,
      ];
    case 'event':
      return [`${p.run.spans.event} span events[0].attributes.${key} ${p.sample.reason}`];
    case 'link':
      return [`${p.run.spans.link} span links[0].attributes.${key} ${p.sample.reason}`];
  }
}

/** The reason says the key, not the value, decided: every scalar under the key is redacted. */
const redactsWholeKey = (sample: SecretSample) => sample.reason === 'key_name' || sample.reason === 'configured_key';

const recordText = (r: RedactionView) => `${r.span_id} ${r.target} ${r.key} ${r.reason}`;

/** Attributes the SDK carries to the resource: anything (it does not check resource values). */
type ResourceAttributes = Record<string, SampleValue>;

/** Emits one run: a root with the run fields and three children carrying attributes, an event and a link. */
function emitCarrierRun(tracer: Tracer, fields: RunFields, carry: { span: Attributes; event: Attributes; link: Attributes }): CarrierSpans {
  const clock = new StepClock();
  const root = tracer.startSpan(SPAN_NAMES.root, { attributes: runAttributes(fields), startTime: clock.next() }, ROOT_CONTEXT);
  const parent = trace.setSpan(ROOT_CONTEXT, root);
  const span = tracer.startSpan(SPAN_NAMES.span, { attributes: carry.span, startTime: clock.next() }, parent);
  span.end(clock.next());
  const event = tracer.startSpan(SPAN_NAMES.event, { startTime: clock.next() }, parent);
  event.addEvent(EVENT_NAME, carry.event, clock.next());
  event.end(clock.next());
  const link = tracer.startSpan(SPAN_NAMES.link, { startTime: clock.next(), links: [{ context: root.spanContext(), attributes: carry.link }] }, parent);
  link.end(clock.next());
  root.end(clock.next());
  return { root: root.spanContext().spanId, span: span.spanContext().spanId, event: event.spanContext().spanId, link: link.spanContext().spanId };
}

const runFields = (runId: string): RunFields => ({
  runId,
  workflow: 'e2e-redaction',
  kind: 'secret_rotation',
  result: 'success',
  triggerKind: 'schedule',
  actorId: 'system:serviceaccount:secrets:rotator',
  actorType: 'service_account',
});

/**
 * Sends one copy of the secret corpus in GROUPS runs, each from its own tracer provider (its own
 * resource). `shift` rotates the placements, so each copy puts every secret somewhere else; bytes
 * values go to the resource, the only place the SDK carries them.
 */
async function sendSecretCopy(url: string, copy: string, shift: number): Promise<PlacedSecret[]> {
  const placed: PlacedSecret[] = [];
  const senders: OtelSender[] = [];
  try {
    for (let group = 0; group < GROUPS; group++) {
      const resource: ResourceAttributes = { 'service.name': `e2e-redaction-${copy}-${group}` };
      const nested: Record<string, SampleValue> = {};
      const carry = { span: {} as Attributes, event: {} as Attributes, link: {} as Attributes };
      const mine: Array<{ sample: SecretSample; placement: Placement }> = [];
      SECRETS.forEach((sample, i) => {
        if (i % GROUPS !== group) return;
        let placement = PLACEMENTS[(i + shift) % PLACEMENTS.length]!;
        if (typeof sample.value !== 'string' && !placement.startsWith('resource')) placement = 'resource';
        mine.push({ sample, placement });
        const value = sample.value;
        if (placement === 'resource') resource[sample.key] = value;
        else if (placement === 'resource_kvlist') nested[sample.key] = value;
        else if (typeof value === 'string') {
          if (placement === 'array') carry.span[sample.key] = ['benign', value];
          else carry[placement][sample.key] = value;
        }
      });
      if (Object.keys(nested).length > 0) resource[CONTEXT_KEY] = nested;
      const sender = createOtelSender(url, resource as unknown as Attributes);
      senders.push(sender);
      const runId = newRunId(`redaction-${copy}-${group}`);
      const spans = emitCarrierRun(sender.tracer, runFields(runId), carry);
      const run: SentRun = { runId, copy, spans };
      for (const m of mine) placed.push({ ...m, copy, run });
    }
    // Every span of a provider ended in one tick: each provider exports them in one request.
    await Promise.all(senders.map((s) => s.flush()));
  } finally {
    await Promise.all(senders.map((s) => s.shutdown()));
  }
  return placed;
}

/** Sends the non-secret corpus in one run: in its resource, span, event and link attributes. */
async function sendNonSecrets(url: string): Promise<{ run: SentRun; placed: PlacedPlain[] }> {
  const resource: ResourceAttributes = { 'service.name': 'e2e-redaction-plain' };
  const carried: Attributes = {};
  const placed: PlacedPlain[] = [];
  for (const sample of NON_SECRETS) {
    resource[sample.key] = sample.value;
    placed.push({ sample, placement: 'resource' });
    // The SDK keeps only scalars and arrays of them in span, event and link attributes.
    if (typeof sample.value === 'object' && !Array.isArray(sample.value)) continue;
    carried[sample.key] = sample.value as Attributes[string];
    for (const placement of ['span', 'event', 'link'] as const) placed.push({ sample, placement });
  }
  const sender = createOtelSender(url, resource as unknown as Attributes);
  try {
    const runId = newRunId('redaction-plain');
    const spans = emitCarrierRun(sender.tracer, runFields(runId), { span: carried, event: carried, link: carried });
    await sender.flush();
    return { run: { runId, copy: 'plain', spans }, placed };
  } finally {
    await sender.shutdown();
  }
}

async function getBytes(url: string): Promise<Buffer> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/** Reads every run (list, show, evidence), /metrics and, for `exportIds`, `runledger export` from a live server. */
async function observe(p: RunledgerProcess, runIds: readonly string[], exportIds: readonly string[]): Promise<Observed> {
  const outputs = new Map<string, Buffer>();
  const bundles = new Map<string, BundleJson>();
  const runs = new Map<string, RunJson>();
  outputs.set('GET /api/v1/runs', await getBytes(`${p.httpUrl}/api/v1/runs?limit=1000`));
  await Promise.all(
    runIds.map(async (id) => {
      const run = await getBytes(`${p.httpUrl}/api/v1/runs/${encodeURIComponent(id)}`);
      const evidence = await getBytes(`${p.httpUrl}/api/v1/runs/${encodeURIComponent(id)}/evidence`);
      outputs.set(`GET /api/v1/runs/${id}`, run);
      outputs.set(`GET /api/v1/runs/${id}/evidence`, evidence);
      runs.set(id, JSON.parse(run.toString('utf8')) as RunJson);
      bundles.set(id, JSON.parse(evidence.toString('utf8')) as BundleJson);
    }),
  );
  await Promise.all(exportIds.map(async (id) => outputs.set(`runledger export ${id}`, await exportRun(p.configPath, id))));
  const metrics = await getBytes(`${p.httpUrl}/metrics`);
  outputs.set('GET /metrics', metrics);
  return { outputs, bundles, runs, metrics: parseExposition(metrics.toString('utf8')) };
}

async function exportRun(configPath: string, runId: string): Promise<Buffer> {
  const result = await runledgerCli(['export', runId, '--config', configPath]);
  if (result.code !== 0) throw new Error(`runledger export ${runId} exited ${result.code}: ${result.stderr}`);
  return Buffer.from(result.stdout + result.stderr);
}

/** The database files in the store directory (the database, its -wal and -shm), as raw bytes. */
function storeFiles(dir: string, label: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name.startsWith('runledger.db') && statSync(path).isFile()) files.set(`${label}: ${name}`, readFileSync(path));
  }
  return files;
}

/** `runledger_redactions_total` as the corpus placements should have counted it, in Exposition.series form. */
function expectedCounts(placed: readonly PlacedSecret[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of placed) {
    const series = `reason=${p.sample.reason},target=${p.placement.startsWith('resource') ? 'resource' : 'span'}`;
    out[series] = (out[series] ?? 0) + (p.placement === 'array' && redactsWholeKey(p.sample) ? 2 : 1);
  }
  return out;
}

describe('redaction end to end: secrets never reach disk, logs, API, export or metrics in clear', () => {
  let dir: string;
  let first: RunledgerProcess | undefined;
  let second: RunledgerProcess | undefined;
  let placedAB: PlacedSecret[] = [];
  let placedC: PlacedSecret[] = [];
  let plainRun: SentRun;
  let plainPlaced: PlacedPlain[] = [];
  let seenFirst: Observed;
  let seenSecond: Observed;
  /** Every byte a secret could have reached, by label. */
  const everything = new Map<string, Buffer>();
  let exitFirst: number | string;
  let exitSecond: number | string;
  let walBytesAfterKill = 0;
  let hmacKey: Buffer;

  const config = () => ({
    runs: { settle_ms: 200 },
    telemetry: { logs: { level: 'debug' } },
    integrity: { signing_key_file: join(dir, 'signing-key.pem') },
    redaction: { hmac_key_file: join(dir, 'redaction-hmac.key'), keys: [...CORPUS_REDACTION_CONFIG.keys], patterns: [...CORPUS_REDACTION_CONFIG.patterns] },
  });
  const secretRuns = (placed: readonly PlacedSecret[]) => [...new Map(placed.map((p) => [p.run.runId, p.run])).values()];
  /** The keyed hash runledger must have put in place of `value`, with the key it keeps in the store dir. */
  const hashOf = (value: string | Uint8Array) => `redacted:hmac-sha256:${createHmac('sha256', hmacKey).update(value).digest('hex').slice(0, 32)}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runledger-e2e-redaction-'));

    first = await startRunledger({ dir, config: config() });
    placedAB = [...(await sendSecretCopy(first.grpcUrl, 'a', 0)), ...(await sendSecretCopy(first.grpcUrl, 'b', 1))];
    const plain = await sendNonSecrets(first.grpcUrl);
    plainRun = plain.run;
    plainPlaced = plain.placed;
    const firstIds = [...secretRuns(placedAB).map((r) => r.runId), plainRun.runId];
    await waitForRuns(first.dbPath, firstIds);
    seenFirst = await observe(first, firstIds, firstIds);
    for (const [label, bytes] of seenFirst.outputs) everything.set(`first server, ${label}`, bytes);
    // SIGKILL: nothing is checkpointed or closed, the committed spans and revisions are still in the WAL.
    exitFirst = await first.stop('SIGKILL');
    walBytesAfterKill = existsSync(`${first.dbPath}-wal`) ? statSync(`${first.dbPath}-wal`).size : 0;
    for (const [label, bytes] of storeFiles(dir, 'store after SIGKILL')) everything.set(label, bytes);
    everything.set('first server stdout+stderr', Buffer.from(first.stdout()));

    // The key runledger created on first start; the restart must find and use the same one.
    const keyFile = readFileSync(join(dir, 'redaction-hmac.key'));
    const keyText = keyFile.toString('utf8').trim();
    hmacKey = /^[0-9a-fA-F]{64,}$/.test(keyText) ? Buffer.from(keyText, 'hex') : keyFile;

    second = await startRunledger({ dir, config: config() });
    placedC = await sendSecretCopy(second.grpcUrl, 'c', 2);
    const secondIds = secretRuns(placedC).map((r) => r.runId);
    await waitForRuns(second.dbPath, secondIds);
    seenSecond = await observe(second, [...firstIds, ...secondIds], []);
    for (const [label, bytes] of seenSecond.outputs) everything.set(`second server, ${label}`, bytes);
    exitSecond = await second.stop('SIGTERM');
    everything.set('second server stdout+stderr', Buffer.from(second.stdout()));
    for (const [label, bytes] of storeFiles(dir, 'store after SIGTERM')) everything.set(label, bytes);
    // The cleanly closed store, read by the CLI with no server running.
    for (const id of secondIds) everything.set(`runledger export ${id} (stopped store)`, await exportRun(second.configPath, id));
  }, 4 * PATIENCE_MS); // two starts, two sends, runs judged and exports: a hang guard

  afterAll(async () => {
    await Promise.all([first?.stop('SIGKILL'), second?.stop('SIGKILL')]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it(`has at least 30 secrets and 30 non-secrets, each secret with needles found in what is sent (${SECRETS.length}, ${NON_SECRETS.length})`, () => {
    expect(SECRETS.length).toBeGreaterThanOrEqual(30);
    expect(NON_SECRETS.length).toBeGreaterThanOrEqual(30);
    for (const s of SECRETS) {
      expect(s.needles.length, s.name).toBeGreaterThan(0);
      const sent = typeof s.value === 'string' ? Buffer.from(s.value) : Buffer.from(s.value);
      const forms = Buffer.concat([sent, Buffer.from(sent.toString('base64')), Buffer.from(sent.toString('hex'))]);
      for (const needle of s.needles) expect(forms.indexOf(needle), `${s.name}: ${needle}`).toBeGreaterThanOrEqual(0);
    }
  });

  it('placed every secret in every kind of place: resource (flat and kvlist), span, array, event, link', () => {
    const kinds = new Set([...placedAB, ...placedC].map((p) => p.placement));
    expect([...kinds].sort()).toEqual([...PLACEMENTS].sort());
    expect(placedAB).toHaveLength(2 * SECRETS.length);
    expect(placedC).toHaveLength(SECRETS.length);
  });

  it('SIGKILL left the data in the WAL, SIGTERM exited 0', () => {
    expect(exitFirst).toBe('SIGKILL');
    expect(walBytesAfterKill).toBeGreaterThan(0);
    expect(exitSecond).toBe(0);
  });

  it('shows no secret in clear anywhere: db, WAL, logs, API, export, metrics (100% redacted)', () => {
    const leaks: string[] = [];
    const leakedNames = new Set<string>();
    for (const sample of SECRETS) {
      for (const [label, bytes] of everything) {
        for (const needle of sample.needles) {
          if (bytes.indexOf(needle) >= 0) {
            leaks.push(`${sample.name} (${sample.key}) in ${label}: ${needle.slice(0, 24)}…`);
            leakedNames.add(sample.name);
          }
        }
      }
    }
    const all = [...placedAB, ...placedC];
    const bundleOf = (p: PlacedSecret) => (p.copy === 'c' ? seenSecond : seenFirst).bundles.get(p.run.runId)!;
    const missed = all.filter((p) => {
      const value = valueIn(bundleOf(p), { placement: p.placement, key: p.sample.key, spans: p.run.spans });
      return value !== hashOf(p.sample.value) || leakedNames.has(p.sample.name);
    });
    const rate = (all.length - missed.length) / all.length;
    console.log(`secret redaction rate (end to end): ${all.length - missed.length}/${all.length} placements (${(rate * 100).toFixed(1)}%)`);
    expect(everything.size).toBeGreaterThan(20);
    expect(leaks).toEqual([]);
    expect(missed.map((p) => `${p.copy} ${p.placement} ${p.sample.key}`)).toEqual([]);
    expect(rate).toBe(1);
  });

  it('keeps every non-secret value as sent in the evidence bundle (0% false positives)', () => {
    const bundle = seenFirst.bundles.get(plainRun.runId)!;
    const changed = plainPlaced.filter((p) => {
      const value = valueIn(bundle, { placement: p.placement, key: p.sample.key, spans: plainRun.spans });
      return JSON.stringify(value) !== JSON.stringify(p.sample.value);
    });
    const rate = changed.length / plainPlaced.length;
    console.log(`non-secret false-positive rate (end to end): ${changed.length}/${plainPlaced.length} placements (${(rate * 100).toFixed(1)}%)`);
    expect(changed.map((p) => `${p.placement} ${p.sample.key}: ${JSON.stringify(valueIn(bundle, { placement: p.placement, key: p.sample.key, spans: plainRun.spans }))}`)).toEqual([]);
    expect(rate).toBe(0);
    expect(seenFirst.runs.get(plainRun.runId)!.redactions).toEqual([]);
    expect(seenFirst.bundles.get(plainRun.runId)!.revisions.every((r) => r.redactions?.length === 0)).toBe(true);
  });

  it("lists each redacted key with its reason in the run's redactions, never the value", () => {
    for (const [placed, seen] of [
      [placedAB, seenFirst],
      [placedC, seenSecond],
    ] as const) {
      for (const run of secretRuns(placed)) {
        const listed = seen.runs.get(run.runId)!.redactions ?? [];
        for (const r of listed) expect(Object.keys(r).sort()).toEqual(['key', 'reason', 'span_id', 'target']);
        const want = placed.filter((p) => p.run === run).flatMap(expectedRecords).sort();
        expect(listed.map(recordText).sort(), run.runId).toEqual(want);
        // The evidence bundle's revisions carry the same list.
        expect(seen.bundles.get(run.runId)!.run.redactions?.map(recordText).sort()).toEqual(want);
      }
    }
  });

  it('gives equal secrets in two runs, and after a restart on the same dir, the same keyed hash', () => {
    const byCopy = (placed: readonly PlacedSecret[], seen: Observed) =>
      new Map(placed.map((p) => [p.sample.key, valueIn(seen.bundles.get(p.run.runId)!, { placement: p.placement, key: p.sample.key, spans: p.run.spans })]));
    const a = byCopy(placedAB.filter((p) => p.copy === 'a'), seenFirst);
    const b = byCopy(placedAB.filter((p) => p.copy === 'b'), seenFirst);
    const c = byCopy(placedC, seenSecond);
    const differing = SECRETS.filter((s) => !(a.get(s.key) === b.get(s.key) && b.get(s.key) === c.get(s.key) && HASHED.test(String(a.get(s.key)))));
    expect(differing.map((s) => `${s.key}: ${String(a.get(s.key))} ${String(b.get(s.key))} ${String(c.get(s.key))}`)).toEqual([]);
    // Same placements, different runs: copy "a" read back from the restarted server hashes as before.
    const aAgain = byCopy(placedAB.filter((p) => p.copy === 'a'), seenSecond);
    expect(aAgain).toEqual(a);
    expect(new Set(a.values()).size).toBe(new Set(SECRETS.map((s) => Buffer.from(s.value).toString('hex'))).size);
  });

  it('counts them in runledger_redactions_total by target and reason, per process', () => {
    expect(seenFirst.metrics.series('runledger_redactions_total')).toEqual(expectedCounts(placedAB));
    expect(seenSecond.metrics.series('runledger_redactions_total')).toEqual(expectedCounts(placedC));
  });

  it('stores a redaction manifest on every span of a run with secrets, none on the non-secret run', () => {
    const manifests = readDb(join(dir, 'runledger.db'), (db) =>
      db.prepare('SELECT run_key, span_id, redactions FROM spans').all() as Array<{ run_key: string; span_id: string; redactions: string | null }>,
    );
    const secretIds = new Set([...secretRuns(placedAB), ...secretRuns(placedC)].map((r) => r.runId));
    const secretSpans = manifests.filter((m) => secretIds.has(m.run_key));
    expect(secretSpans).toHaveLength(secretIds.size * 4);
    // Spans whose own attributes, resource or kvlist hold a secret list it; only the root may have nothing.
    const withManifest = secretSpans.filter((m) => m.redactions !== null);
    expect(withManifest.length).toBeGreaterThanOrEqual(secretIds.size * 3);
    for (const m of withManifest) {
      for (const r of JSON.parse(m.redactions!) as Array<Record<string, unknown>>) expect(Object.keys(r).sort()).toEqual(['key', 'reason', 'target']);
    }
    expect(manifests.filter((m) => m.run_key === plainRun.runId).map((m) => m.redactions)).toEqual([null, null, null, null]);
  });
});
