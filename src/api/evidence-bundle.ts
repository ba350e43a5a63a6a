import { FINDING_CODES, type FindingCode } from '../evidence/findings.js';
import { CANONICALIZATION_VERSION } from '../integrity/canonical.js';
import type { ChainRow } from '../store/chain-store.js';
import type { ChainStore, CheckpointRow } from '../store/chain-store.js';
import type { RunQueries } from '../store/run-queries.js';
import type { RunLoader } from '../runs/run-loader.js';
import { showRevision, showRun, type RunRecord, type ShownRun } from './run-record.js';
import { spanToJson } from './span-json.js';

export interface EvidenceSources {
  readonly queries: RunQueries;
  readonly runs: RunLoader;
  readonly chain: ChainStore;
  /** The signing public key (SPKI PEM), so the bundle names what to check against. */
  readonly publicKeyPem?: string;
}

/** A row with its nanosecond time as JSON carries it: a decimal string. */
type JsonRow<T extends { readonly created_ns: bigint }> = Omit<T, 'created_ns'> & { readonly created_ns: string };

export interface EvidenceBundle {
  readonly bundle_version: 1;
  readonly generated_at: string;
  readonly run: ShownRun;
  /** Every revision, oldest first. */
  readonly revisions: ReadonlyArray<RunRecord | undefined>;
  readonly spans: ReadonlyArray<ReturnType<typeof spanToJson>>;
  /** What each finding code of the revisions means (null for a code this version does not know). */
  readonly finding_codes: Readonly<Record<string, (typeof FINDING_CODES)[FindingCode] | null>>;
  readonly integrity: {
    readonly canonicalization_version: number;
    readonly how_to_verify: string;
    readonly revisions: ReadonlyArray<JsonRow<ChainRow>>;
    readonly record_texts: ReadonlyArray<{ readonly revision: number; readonly text: string | null }>;
    readonly path: ReadonlyArray<JsonRow<ChainRow>>;
    readonly checkpoint: JsonRow<CheckpointRow> | null;
    readonly public_key_pem: string | null;
  };
}

/**
 * A self-contained evidence bundle for one run (API `/evidence` and CLI `export`): every revision,
 * the spans with all attributes, findings with their control references, and the chain rows and
 * signed checkpoint that prove the revisions were not altered. Undefined when the run is unknown.
 */
export function buildEvidenceBundle(sources: EvidenceSources, runId: string): EvidenceBundle | undefined {
  const latest = showRun(sources.queries, runId);
  if (latest === undefined) return undefined;
  const revisions = latest.revisions.map((r) => showRevision(sources.queries, runId, r.revision));
  const codes = new Set(revisions.flatMap((r) => r?.findings.map((f) => f.code) ?? []));
  const proof = sources.chain.proofFor(runId);
  const row = <T extends ChainRow | CheckpointRow>(r: T): JsonRow<T> => ({ ...r, created_ns: r.created_ns.toString() });
  return {
    bundle_version: 1,
    generated_at: new Date().toISOString(),
    run: latest,
    revisions,
    spans: sources.runs.loadRun(runId).spans.map(spanToJson),
    finding_codes: Object.fromEntries(
      [...codes].map((code) => [code, FINDING_CODES[code] ?? null]),
    ),
    integrity: {
      canonicalization_version: CANONICALIZATION_VERSION,
      how_to_verify:
        'record_hash = SHA-256(JCS({v, seq, kind, created_ns, prev_hash, payload})); each row links to the previous by prev_hash; ' +
        "payload.record_sha256 = SHA-256 of the revision record's stored UTF-8 text (record_texts); payload.spans lists SHA-256 of each span's OTLP bytes; " +
        'the checkpoint body is Ed25519-signed and names the chain size and head hash (base64).',
      revisions: proof.revisions.map(row),
      record_texts: latest.revisions.map((r) => ({ revision: r.revision, text: sources.queries.recordText(runId, r.revision) ?? null })),
      path: proof.path.map(row),
      checkpoint: proof.checkpoint === null ? null : row(proof.checkpoint),
      public_key_pem: sources.publicKeyPem ?? null,
    },
  };
}
