import type { ChainKind, ChainRow, ChainStore } from '../store/chain-store.js';
import type { PruneRecorder, PrunedRevisions } from '../store/pruner.js';
import type { RevisionAppender } from '../store/run-store.js';
import { canonicalJson } from './canonical.js';
import { chainHashOfCanonical, GENESIS_HASH, SIGNED_KINDS, type PrunePayload } from './chain-entry.js';
import { checkpointBody, signText, type SigningKey } from './signing.js';

/**
 * Appends to the hash chain (DESIGN §7): hashes each row over the one before, signs the kinds that are
 * signed and the checkpoints, and leaves the SQL to ChainStore. Appends run inside the caller's
 * transaction, so a revision and its chain row commit together.
 */
export class ChainWriter implements RevisionAppender, PruneRecorder {
  constructor(
    private readonly store: ChainStore,
    private readonly key: SigningKey | undefined,
    private readonly origin: string,
  ) {}

  /** The last row's seq and hash (seq 0 and the genesis hash while the chain is empty). */
  head(): { seq: number; hash: string } {
    return this.store.head() ?? { seq: 0, hash: GENESIS_HASH };
  }

  append(kind: ChainKind, payload: object, createdNs: bigint, ref: { runKey?: string; revision?: number } = {}): ChainRow {
    return this.appendCanonical(kind, canonicalJson(payload), createdNs, ref);
  }

  /** Appends a run revision's entry; `payloadJson` is its RevisionPayload, canonical (revisionPayloadJson). */
  appendRevision(runKey: string, revision: number, createdNs: bigint, payloadJson: string): ChainRow {
    return this.appendCanonical('revision', payloadJson, createdNs, { runKey, revision });
  }

  /** Records what retention removed, naming the head it removed it under. */
  recordPrune(pruned: PrunedRevisions, nowNs: bigint): void {
    const payload: PrunePayload = { ...pruned, last_hash: this.head().hash };
    this.append('prune', payload, nowNs);
  }

  /** At start: a signed record naming the previous head, and a key-rotation record when the key changed. */
  recordStart(nowNs: bigint, version: string): void {
    const previousKey = this.store.lastKeyId();
    const head = this.head();
    this.store.inTransaction(() => {
      if (previousKey != null && this.key !== undefined && previousKey !== this.key.keyId) {
        this.append('key_rotation', { old_key_id: previousKey, new_key_id: this.key.keyId }, nowNs);
      }
      this.append('chain_start', { previous_head_seq: head.seq, previous_head_hash: head.hash, runledger_version: version }, nowNs);
    });
  }

  /** Writes a signed checkpoint when records were added since the last one; returns whether it did. */
  writeCheckpoint(nowNs: bigint): boolean {
    if (this.key === undefined) return false;
    const head = this.head();
    if (head.seq === 0 || this.store.lastCheckpointSize() === head.seq) return false;
    const body = checkpointBody(this.origin, head.seq, head.hash, new Date(Number(nowNs / 1_000_000n)).toISOString());
    this.store.insertCheckpoint({
      size: head.seq,
      head_hash: head.hash,
      created_ns: nowNs,
      origin: this.origin,
      key_id: this.key.keyId,
      body,
      signature: signText(this.key, body),
    });
    return true;
  }

  private appendCanonical(kind: ChainKind, payloadJson: string, createdNs: bigint, ref: { runKey?: string; revision?: number }): ChainRow {
    const head = this.head();
    const content = { seq: head.seq + 1, kind, created_ns: createdNs, payload: payloadJson, prev_hash: head.hash };
    const record_hash = chainHashOfCanonical(content);
    const signed = SIGNED_KINDS.has(kind) && this.key !== undefined;
    const row: ChainRow = {
      ...content,
      run_key: ref.runKey ?? null,
      revision: ref.revision ?? null,
      record_hash,
      key_id: signed ? this.key!.keyId : null,
      signature: signed ? signText(this.key!, record_hash) : null,
    };
    this.store.insert(row);
    return row;
  }
}
