import type { KeyObject } from 'node:crypto';
import type { ChainReader, ChainRow } from '../store/chain-store.js';
import { sha256Hex } from './canonical.js';
import { chainHash, GENESIS_HASH, recordDigest, SIGNED_KINDS, type PrunePayload, type RevisionPayload } from './chain-entry.js';
import { IndexExpectations } from './index-check.js';
import { keyIdOf, verifyText } from './signing.js';
import type { VerifyProblem } from './verify-problem.js';

export type { ProblemKind, VerifyProblem } from './verify-problem.js';

export interface VerifyReport {
  /** True when nothing but declared gaps was found. */
  readonly intact: boolean;
  readonly records_checked: number;
  readonly revisions_checked: number;
  readonly checkpoints_checked: number;
  readonly head: { seq: number; hash: string };
  readonly problems: readonly VerifyProblem[];
}

export interface VerifyOptions {
  readonly fromSeq?: number;
  /** Trusted Ed25519 public keys (the auditor's copies); signatures by other keys are `unknown_key`. */
  readonly publicKeys: readonly KeyObject[];
}

/** Walks the chain and reports every problem by kind; exits nothing, decides nothing else. */
export function verifyChain(reader: ChainReader, options: VerifyOptions): VerifyReport {
  const keys = new Map(options.publicKeys.map((k) => [keyIdOf(k), k]));
  const problems: VerifyProblem[] = [];
  const fromSeq = options.fromSeq ?? 1;
  const hashAt = new Map<number, string>();
  const seqOfRecordDigest = new Map<string, number>();
  const revisionRows: Array<ChainRow & { payload_obj: RevisionPayload }> = [];
  const unhashed: ChainRow[] = [];
  const pruned: Array<readonly [number, number]> = [];
  let previous: ChainRow | undefined;
  let expected = fromSeq;
  let records = 0;

  const checkSignature = (
    row: { seq?: number; key_id: string | null; signature: string | null },
    text: string,
    what: string,
    invalid: 'signature_invalid' | 'checkpoint_forged',
  ) => {
    const at = row.seq !== undefined ? { seq: row.seq } : {};
    if (row.key_id === null || row.signature === null) {
      problems.push({ kind: invalid, ...at, message: `${what} is not signed` });
      return;
    }
    const key = keys.get(row.key_id);
    if (key === undefined) {
      problems.push({ kind: 'unknown_key', ...at, message: `${what} is signed by key ${row.key_id}, which is not a trusted key` });
    } else if (!verifyText(key, text, row.signature)) {
      problems.push({ kind: invalid, ...at, message: `${what} has an invalid signature` });
    }
  };

  for (const row of reader.rows(fromSeq)) {
    records++;
    if (row.seq > expected) {
      problems.push({ kind: 'record_missing', seq: expected, message: `chain records ${expected}..${row.seq - 1} are missing` });
    }
    const payload = parseJson(row.payload);
    if (payload === undefined || chainHash(row) !== row.record_hash) {
      // Altered, or moved to another seq (the hash covers it): told apart once every hash is known.
      unhashed.push(row);
    } else {
      const linked = previous !== undefined && previous.seq === row.seq - 1 ? previous.record_hash : row.seq === 1 ? GENESIS_HASH : undefined;
      if (linked !== undefined && row.prev_hash !== linked) {
        problems.push({ kind: 'reordered', seq: row.seq, message: `chain record ${row.seq} does not follow record ${row.seq - 1}` });
      }
    }
    if (SIGNED_KINDS.has(row.kind)) checkSignature(row, row.record_hash, `chain record ${row.seq} (${row.kind})`, 'signature_invalid');

    if (payload === undefined) {
      // Reported as altered below; nothing in it can be trusted or followed.
    } else if (row.kind === 'revision') {
      const revision = payload as RevisionPayload;
      if (row.run_key !== revision.run_key || row.revision !== revision.revision) {
        problems.push({ kind: 'record_altered', seq: row.seq, message: `chain record ${row.seq}'s run columns differ from its hashed payload` });
      }
      revisionRows.push({ ...row, payload_obj: revision });
      seqOfRecordDigest.set(revision.record_sha256, row.seq);
    } else if (row.kind === 'prune') {
      const prune = payload as PrunePayload;
      pruned.push(...prune.ranges);
      problems.push({ kind: 'declared_gap', seq: row.seq, message: `pruning removed ${prune.count} revision(s) evaluated before ${prune.before}` });
    } else if (row.kind === 'chain_start') {
      const start = payload as { previous_head_seq: number };
      if (start.previous_head_seq > 0) {
        problems.push({ kind: 'declared_gap', seq: row.seq, message: `runledger restarted after record ${start.previous_head_seq}` });
      }
    } else if (row.kind === 'key_rotation') {
      const rotation = payload as { old_key_id: string; new_key_id: string };
      problems.push({ kind: 'declared_gap', seq: row.seq, message: `signing key rotated from ${rotation.old_key_id} to ${rotation.new_key_id}` });
    }
    hashAt.set(row.seq, row.record_hash);
    previous = row;
    expected = row.seq + 1;
  }

  const sealedSeqOf = sealedSeqs(hashAt, unhashed);
  for (const row of unhashed) {
    const sealedAt = sealedSeqOf(row);
    problems.push(
      sealedAt !== undefined
        ? { kind: 'reordered', seq: row.seq, message: `chain record ${row.seq} (${row.kind}) was sealed as record ${sealedAt}` }
        : { kind: 'record_altered', seq: row.seq, message: `chain record ${row.seq} (${row.kind}) does not match its hash` },
    );
  }

  const isPruned = (seq: number) => pruned.some(([a, b]) => seq >= a && seq <= b);
  const readsIndex = fromSeq === 1; // the index is compared with every sealed revision, or not at all
  const runIndex = reader.runIndex();
  const index = new IndexExpectations();
  const prunedRuns = new Set<string>();
  const chained = new Set<string>();
  // A pruned revision's data is gone by design; its run id may since have been used again.
  for (const row of revisionRows) if (isPruned(row.seq)) prunedRuns.add(row.payload_obj.run_key);
  for (const [runKey, rows] of groupByRun(revisionRows.filter((r) => !isPruned(r.seq)))) {
    const bodies = reader.spanBodies(runKey);
    const stored = rows.map((row) => reader.revisionRecord(runKey, row.payload_obj.revision));
    if (stored.every((r) => r === undefined) && bodies.size === 0 && !runIndex.has(runKey)) {
      const revisions = rows.map((r) => r.payload_obj.revision);
      problems.push({
        kind: 'run_deleted',
        seq: rows[0]!.seq,
        run_id: runKey,
        revision: Math.max(...revisions),
        message: `run ${runKey} was deleted: no record of revision(s) ${revisions.join(', ')} (chained at ${rows.map((r) => r.seq).join(', ')}), no span and no index row is left`,
      });
      for (const r of rows) chained.add(`${runKey}\u0000${r.payload_obj.revision}`);
      continue;
    }
    rows.forEach((row, i) => {
      const payload = row.payload_obj;
      chained.add(`${payload.run_key}\u0000${payload.revision}`);
      const ref = { seq: row.seq, run_id: payload.run_key, revision: payload.revision };
      const record = stored[i];
      if (record === undefined) {
        problems.push({ kind: 'record_missing', ...ref, message: `run ${payload.run_key} revision ${payload.revision} is missing` });
        index.addRevision(runKey, payload.revision, row.seq, undefined);
        return;
      }
      const parsed = parseJson(record);
      const digest = parsed === undefined ? undefined : recordDigest(record);
      if (digest !== payload.record_sha256) {
        const other = digest === undefined ? undefined : seqOfRecordDigest.get(digest);
        problems.push(
          other !== undefined
            ? { kind: 'reordered', ...ref, message: `run ${payload.run_key} revision ${payload.revision} holds the record chained at ${other}` }
            : { kind: 'record_altered', ...ref, message: `run ${payload.run_key} revision ${payload.revision} was altered` },
        );
      }
      index.addRevision(runKey, payload.revision, row.seq, digest === payload.record_sha256 ? parsed : undefined);
      for (const [traceId, spanId, spanDigest] of payload.spans) {
        const body = bodies.get(`${traceId}/${spanId}`);
        if (body === undefined) {
          problems.push({ kind: 'record_missing', ...ref, message: `span ${spanId} of run ${payload.run_key} is missing` });
        } else if (sha256Hex(body) !== spanDigest) {
          problems.push({ kind: 'record_altered', ...ref, message: `span ${spanId} of run ${payload.run_key} was altered` });
        }
      }
    });
  }

  if (readsIndex) {
    // A revision no chain row covers was written around runledger: a forged history entry.
    for (const [runKey, revision] of reader.revisionKeys()) {
      if (!chained.has(`${runKey}\u0000${revision}`)) {
        problems.push({ kind: 'record_unchained', run_id: runKey, revision, message: `run ${runKey} revision ${revision} is not in the chain` });
      }
    }
    problems.push(...index.check({ runs: runIndex, findings: reader.findingRows(), claims: reader.claimRows() }, prunedRuns));
  }

  const checkpoints = reader.checkpoints();
  const lastSeq = previous?.seq ?? 0;
  for (const cp of checkpoints) {
    checkSignature(cp, cp.body, `checkpoint ${cp.id} at size ${cp.size}`, 'checkpoint_forged');
    // The signed text is the truth; the columns beside it are only an index.
    const [, sizeLine = '', hashLine = ''] = cp.body.split('\n');
    const size = Number(sizeLine);
    const head = Buffer.from(hashLine, 'base64').toString('hex');
    if (size !== cp.size || head !== cp.head_hash) {
      problems.push({ kind: 'checkpoint_mismatch', seq: cp.size, message: `checkpoint ${cp.id}'s columns differ from its signed text` });
    }
    if (size > lastSeq) {
      problems.push({ kind: 'truncated', seq: size, message: `a signed checkpoint covers ${size} records but the chain ends at ${lastSeq}` });
    } else if (hashAt.has(size) && hashAt.get(size) !== head) {
      problems.push({ kind: 'checkpoint_mismatch', seq: size, message: `record ${size} does not match the signed checkpoint's head` });
    }
  }

  return {
    intact: problems.every((p) => p.kind === 'declared_gap'),
    records_checked: records,
    revisions_checked: revisionRows.length,
    checkpoints_checked: checkpoints.length,
    head: { seq: lastSeq, hash: previous?.record_hash ?? GENESIS_HASH },
    problems,
  };
}

/**
 * For rows that do not hash at their own seq: the seq each was sealed at when it was moved rather than
 * edited — one past the seq of the record its prev_hash names (itself perhaps moved), if it hashes right
 * there; undefined when it was edited.
 */
function sealedSeqs(hashAt: ReadonlyMap<number, string>, unhashed: readonly ChainRow[]): (row: ChainRow) => number | undefined {
  const movedByHash = new Map(unhashed.map((r) => [r.record_hash, r]));
  const sealedByHash = new Map<string, number | undefined>([[GENESIS_HASH, 0]]);
  for (const [seq, hash] of hashAt) if (!movedByHash.has(hash)) sealedByHash.set(hash, seq);
  return (row) => {
    // Back along prev_hash to a record whose seq is known, then forward; no recursion, so a long run
    // of moved rows cannot overflow the stack.
    const path: ChainRow[] = [row];
    const seen = new Set<ChainRow>(path);
    while (!sealedByHash.has(path.at(-1)!.prev_hash)) {
      const before = movedByHash.get(path.at(-1)!.prev_hash);
      if (before === undefined || seen.has(before)) return undefined;
      seen.add(before);
      path.push(before);
    }
    let seq = sealedByHash.get(path.at(-1)!.prev_hash);
    for (const r of path.reverse()) {
      const at = seq === undefined ? undefined : seq + 1;
      seq = at !== undefined && parseJson(r.payload) !== undefined && chainHash({ ...r, seq: at }) === r.record_hash ? at : undefined;
      sealedByHash.set(r.record_hash, seq);
    }
    return seq === row.seq ? undefined : seq;
  };
}

/** Revision rows by run, runs in the order of their first row, each run's rows in chain order. */
function groupByRun<R extends { payload_obj: RevisionPayload }>(rows: readonly R[]): Map<string, R[]> {
  const byRun = new Map<string, R[]>();
  for (const row of rows) {
    const list = byRun.get(row.payload_obj.run_key);
    if (list === undefined) byRun.set(row.payload_obj.run_key, [row]);
    else list.push(row);
  }
  return byRun;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // tampered: reported by the caller
    throw err;
  }
}
