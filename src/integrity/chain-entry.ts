import type { ChainKind, ChainRow } from '../store/chain-store.js';
import type { PrunedRevisions } from '../store/pruner.js';
import { canonicalJson, CANONICALIZATION_VERSION, sha256Hex } from './canonical.js';

/** Kinds whose rows are signed as well as chained. */
export const SIGNED_KINDS: ReadonlySet<ChainKind> = new Set(['chain_start', 'key_rotation', 'prune']);

export const GENESIS_HASH = '0'.repeat(64);

/** Payload of a revision row: the record's digest and its spans' digests in history order. */
export interface RevisionPayload {
  readonly run_key: string;
  readonly revision: number;
  readonly record_sha256: string;
  /** [trace_id, span_id, sha256 of the stored OTLP bytes], by start time then span id. */
  readonly spans: ReadonlyArray<readonly [string, string, string]>;
}

/** Payload of a prune row: what retention removed, and the head it removed it under. */
export interface PrunePayload extends PrunedRevisions {
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
    `{"created_ns":${jcsScalar(row.created_ns.toString())},"kind":${jcsScalar(row.kind)},"payload":${row.payload},` +
      `"prev_hash":${jcsScalar(row.prev_hash)},"seq":${jcsScalar(row.seq)},"v":${jcsScalar(CANONICALIZATION_VERSION)}}`,
  );
}

/**
 * Canonical JSON (JCS) of a revision payload, written directly: its shape is fixed, and the generic
 * canonicaliser (sorting the keys of every object, walking every span triple) cost as much as the
 * digests. Keys in JCS order: record_sha256, revision, run_key, spans.
 */
export function revisionPayloadJson(payload: RevisionPayload): string {
  // Joined, not appended: a string grown by += is a tree of a few hundred pieces, which the garbage
  // collector copies one by one while the revision waits for its save.
  const spans = payload.spans.map(([traceId, spanId, digest]) => `[${jcsScalar(traceId)},${jcsScalar(spanId)},${jcsScalar(digest)}]`);
  return [
    `{"record_sha256":${jcsScalar(payload.record_sha256)},"revision":${jcsScalar(payload.revision)},"run_key":${jcsScalar(payload.run_key)},"spans":[`,
    spans.join(','),
    ']}',
  ].join('');
}

const SURROGATE = /[\ud800-\udfff]/; // any half of a pair: rare, and cheap to rule out
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * A string or a safe integer in JCS: RFC 8785 writes them exactly as JSON.stringify does, and refuses
 * a lone surrogate. The generic canonicaliser's walk, paid for three values per span, was 2% of judging.
 */
function jcsScalar(value: string | number): string {
  if (typeof value === 'string' && SURROGATE.test(value) && LONE_SURROGATE.test(value)) throw new TypeError('a string with a lone surrogate has no canonical JSON form');
  return JSON.stringify(value);
}

/**
 * Digest of a stored run revision record: SHA-256 of its exact stored UTF-8 text. The record is
 * written once and never re-serialised, so its bytes are the canonical form; any edit changes them.
 */
export function recordDigest(recordJson: string): string {
  return sha256Hex(recordJson);
}
