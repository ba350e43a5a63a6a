import { canonicalJson, CANONICALIZATION_VERSION, sha256Hex } from './canonical.js';

export type ChainKind = 'revision' | 'chain_start' | 'key_rotation' | 'prune';

/** Kinds whose rows are signed as well as chained. */
export const SIGNED_KINDS: ReadonlySet<ChainKind> = new Set(['chain_start', 'key_rotation', 'prune']);

export const GENESIS_HASH = '0'.repeat(64);

/** One row of the chain, as stored. */
export interface ChainRow {
  readonly seq: number;
  readonly kind: ChainKind;
  readonly run_key: string | null;
  readonly revision: number | null;
  readonly created_ns: bigint;
  /** Canonical JSON of the payload. */
  readonly payload: string;
  readonly prev_hash: string;
  readonly record_hash: string;
  readonly key_id: string | null;
  readonly signature: string | null;
}

/** Payload of a revision row: the record's digest and its spans' digests in history order. */
export interface RevisionPayload {
  readonly run_key: string;
  readonly revision: number;
  readonly record_sha256: string;
  /** [trace_id, span_id, sha256 of the stored OTLP bytes], by start time then span id. */
  readonly spans: ReadonlyArray<readonly [string, string, string]>;
}

export interface PrunePayload {
  readonly before: string;
  readonly kinds: readonly string[] | null;
  readonly count: number;
  /** Inclusive [first, last] seq ranges of revision rows whose data was removed. */
  readonly ranges: ReadonlyArray<readonly [number, number]>;
  readonly last_hash: string;
}

/** record_hash = SHA-256 over the canonical JSON of the row's content (DESIGN §7). */
export function chainHash(row: Pick<ChainRow, 'seq' | 'kind' | 'created_ns' | 'payload' | 'prev_hash'>): string {
  return sha256Hex(
    canonicalJson({
      v: CANONICALIZATION_VERSION,
      seq: row.seq,
      kind: row.kind,
      created_ns: row.created_ns.toString(),
      prev_hash: row.prev_hash,
      payload: JSON.parse(row.payload) as unknown,
    }),
  );
}

/**
 * chainHash of a row whose payload text is already canonical (what ChainStore writes): the same digest,
 * without parsing the payload back and canonicalising it a second time. JCS orders the keys by UTF-16
 * code units — created_ns, kind, payload, prev_hash, seq, v — and writes strings and numbers as
 * JSON.stringify does. `verify` keeps using chainHash, which also accepts a non-canonical payload text.
 */
export function chainHashOfCanonical(row: Pick<ChainRow, 'seq' | 'kind' | 'created_ns' | 'payload' | 'prev_hash'>): string {
  return sha256Hex(
    `{"created_ns":${canonicalJson(row.created_ns.toString())},"kind":${canonicalJson(row.kind)},"payload":${row.payload},` +
      `"prev_hash":${canonicalJson(row.prev_hash)},"seq":${canonicalJson(row.seq)},"v":${canonicalJson(CANONICALIZATION_VERSION)}}`,
  );
}

/**
 * Canonical JSON (JCS) of a revision payload, written directly: its shape is fixed, and the generic
 * canonicaliser (sorting the keys of every object, walking every span triple) cost as much as the
 * digests. Keys in JCS order: record_sha256, revision, run_key, spans.
 */
export function revisionPayloadJson(payload: RevisionPayload): string {
  let spans = '';
  for (const [traceId, spanId, digest] of payload.spans) {
    if (spans !== '') spans += ',';
    spans += `[${canonicalJson(traceId)},${canonicalJson(spanId)},${canonicalJson(digest)}]`;
  }
  return (
    `{"record_sha256":${canonicalJson(payload.record_sha256)},"revision":${canonicalJson(payload.revision)},` +
    `"run_key":${canonicalJson(payload.run_key)},"spans":[${spans}]}`
  );
}

/**
 * Digest of a stored run revision record: SHA-256 of its exact stored UTF-8 text. The record is
 * written once and never re-serialised, so its bytes are the canonical form; any edit changes them.
 */
export function recordDigest(recordJson: string): string {
  return sha256Hex(recordJson);
}
