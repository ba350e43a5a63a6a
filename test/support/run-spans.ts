import type { Attributes } from '../../src/otlp/attributes.js';
import { resolveFieldKeys, runIdentityKeys } from '../../src/evidence/fields.js';
import { resolveProfiles, type Profile } from '../../src/evidence/profiles.js';
import { readRunFacts, type Enrichment, type EvaluationContext, type RunFacts } from '../../src/evidence/run-facts.js';
import type { RunHistory, RunSpan } from '../../src/evidence/run-input.js';
import { EvidenceReader } from '../../src/evidence/steps.js';
import { RunIdentity } from '../../src/runs/run-identity.js';

export interface RunSpanOptions {
  readonly parent?: string;
  /** Status ERROR with error.type connector_timeout. */
  readonly error?: boolean;
  readonly id?: string;
  readonly start?: bigint;
}

const TRACE = 'a'.repeat(32);
let nextId = 1;

/** A decoded span of a run, as the evaluator reads it: ids handed out in order, 500 ns long. */
export function runSpan(name: string, attributes: Attributes, options: RunSpanOptions = {}): RunSpan {
  const id = options.id ?? (nextId++).toString(16).padStart(16, '0');
  const start = options.start ?? 1_764_000_000_000_000_000n + BigInt(nextId) * 1000n;
  return {
    traceId: TRACE,
    spanId: id,
    parentSpanId: options.parent ?? '',
    name,
    kind: 1,
    startNs: start,
    endNs: start + 500n,
    statusCode: options.error ? 2 : 0,
    statusMessage: '',
    attributes: { ...attributes, ...(options.error ? { 'error.type': 'connector_timeout' } : {}) },
    events: [],
    links: [],
    resource: { 'service.name': 'svc' },
    scopeName: 'test',
    digest: '0'.repeat(64),
    redactions: [],
  };
}

export const ROOT_ID = 'f'.repeat(16);

/** A step under the root: its name, attributes and options. */
export type ChildSpec = [string, Attributes, RunSpanOptions?];

/** A run with every default field on its root (kind when given) and these children under it. */
export function workflowRun(kind: string | undefined, children: readonly ChildSpec[], rootExtra: Attributes = {}): RunSpan[] {
  const root = runSpan(
    'workflow',
    {
      'nhi.workflow.run.id': 'run-1',
      'nhi.workflow.name': 'wf',
      'nhi.workflow.result': 'success',
      'nhi.trigger.kind': 'schedule',
      'nhi.actor.id': 'sa-1',
      ...(kind ? { 'nhi.workflow.kind': kind } : {}),
      ...rootExtra,
    },
    { id: ROOT_ID },
  );
  return [root, ...children.map(([name, attrs, opt]) => runSpan(name, attrs, { parent: ROOT_ID, ...opt }))];
}

/** A sane JIT expiry for the runs built here (they start at 2025-11-24T16:00Z): four hours after the grant. */
export const GRANT_EXPIRES_AT = '2025-11-24T20:00:00Z';

const FIELD_KEYS = resolveFieldKeys({});
const NO_HISTORY: RunHistory = { runWithTrigger: () => undefined, runWithDecision: () => undefined, lastDefinition: () => undefined };

export interface ContextOptions {
  readonly profiles?: ReadonlyMap<string, Profile>;
  readonly history?: RunHistory;
  readonly enrichment?: Enrichment;
}

/** What judging reads besides the spans: default keys, built-in profiles and no history unless given. */
export function evaluationContext(options: ContextOptions = {}): EvaluationContext {
  return {
    reader: new EvidenceReader(FIELD_KEYS),
    profiles: options.profiles ?? resolveProfiles({}),
    identity: new RunIdentity(FIELD_KEYS['run.id'], runIdentityKeys(FIELD_KEYS)),
    history: options.history ?? NO_HISTORY,
    ...(options.enrichment !== undefined ? { enrichment: options.enrichment } : {}),
  };
}

/** The facts the checks read, for spans built here. */
export function factsOf(spans: readonly RunSpan[], options: ContextOptions = {}): RunFacts {
  return readRunFacts({ runKey: 'run-1', spans }, evaluationContext(options));
}
