import { createHash, createPublicKey, verify } from 'node:crypto';
import canonicalize from 'canonicalize';

/** A chain row as an evidence bundle carries it. */
export interface BundleChainRow {
  seq: number;
  kind: string;
  run_key: string | null;
  revision: number | null;
  created_ns: string;
  payload: string;
  prev_hash: string;
  record_hash: string;
  key_id: string | null;
  signature: string | null;
}

export interface BundleCheckpoint {
  id: number;
  size: number;
  head_hash: string;
  origin: string;
  key_id: string;
  body: string;
  signature: string;
}

export interface EvidenceBundle {
  bundle_version: number;
  run: { run_id: string; revision: number };
  spans: Array<{ trace_id: string; span_id: string }>;
  integrity: {
    canonicalization_version: number;
    revisions: BundleChainRow[];
    record_texts?: Array<{ revision: number; text: string | null }>;
    path: BundleChainRow[];
    checkpoint: BundleCheckpoint | null;
    public_key_pem: string | null;
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** SHA-256 over the JCS (RFC 8785) form of a JSON value: how a chain row's record_hash is made. */
export function jcsSha256(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical form');
  return sha256(text);
}

/** record_hash of a chain row as DESIGN §7 defines it: SHA-256 over JCS of {v, seq, kind, created_ns, prev_hash, payload}. */
export function chainRecordHash(
  row: { seq: number; kind: string; created_ns: string | bigint | number; prev_hash: string; payload: string },
  canonicalizationVersion = 1,
): string {
  return jcsSha256({
    v: canonicalizationVersion,
    seq: row.seq,
    kind: row.kind,
    created_ns: row.created_ns.toString(),
    prev_hash: row.prev_hash,
    payload: JSON.parse(row.payload) as unknown,
  });
}

/**
 * What an auditor does with a bundle and nothing else (no runledger code): recompute every path
 * row's hash from its fields (JCS + SHA-256), follow prev_hash links, find the run's revisions on the
 * path, and check the checkpoint's Ed25519 signature and that it names the path's last row.
 * Returns the failures; empty means the bundle proves itself.
 */
export function checkBundleOffline(bundle: EvidenceBundle, expected: { origin?: string; publicKeyPem?: string } = {}): string[] {
  const failures: string[] = [];
  const { integrity } = bundle;
  const path = integrity.path;
  if (path.length === 0) return ['the bundle has no chain path'];
  path.forEach((row, i) => {
    if (chainRecordHash(row, integrity.canonicalization_version) !== row.record_hash) {
      failures.push(`path row ${row.seq}: record_hash does not match its fields`);
    }
    const before = path[i - 1];
    if (before !== undefined) {
      if (row.seq !== before.seq + 1) failures.push(`path row ${row.seq} does not follow ${before.seq}`);
      if (row.prev_hash !== before.record_hash) failures.push(`path row ${row.seq}: prev_hash does not link to row ${before.seq}`);
    }
  });
  if (integrity.revisions.length === 0) failures.push('the bundle lists no revisions');
  for (const revision of integrity.revisions) {
    const onPath = path.find((r) => r.seq === revision.seq);
    if (onPath === undefined || onPath.record_hash !== revision.record_hash || onPath.payload !== revision.payload) {
      failures.push(`revision row ${revision.seq} is not on the path as given`);
    }
    const payload = JSON.parse(revision.payload) as { run_key: string; revision: number; record_sha256: string };
    if (payload.run_key !== bundle.run.run_id) failures.push(`revision row ${revision.seq} is chained for run ${payload.run_key}`);
    // The record itself: its stored text must hash to what the chain row names.
    const text = integrity.record_texts?.find((r) => r.revision === payload.revision)?.text;
    if (text == null || sha256(text) !== payload.record_sha256) {
      failures.push(`record of revision ${payload.revision} does not match its chained digest`);
    }
  }

  const cp = integrity.checkpoint;
  const pem = expected.publicKeyPem ?? integrity.public_key_pem;
  if (cp === null) return [...failures, 'the bundle has no checkpoint'];
  if (pem === null) return [...failures, 'no public key to check the checkpoint with'];
  if (!verify(null, Buffer.from(cp.body), createPublicKey(pem), Buffer.from(cp.signature, 'base64'))) {
    failures.push('the checkpoint signature does not verify');
  }
  const [origin, sizeLine, headLine] = cp.body.split('\n');
  const last = path[path.length - 1]!;
  if (expected.origin !== undefined && origin !== expected.origin) failures.push(`the checkpoint names origin ${origin}`);
  if (Number(sizeLine) !== last.seq) failures.push(`the checkpoint covers ${sizeLine} records, the path ends at ${last.seq}`);
  if (Buffer.from(headLine ?? '', 'base64').toString('hex') !== last.record_hash) failures.push("the checkpoint's head is not the path's last row");
  return failures;
}
