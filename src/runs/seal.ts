import type { RunVerdict } from '../evidence/evaluate.js';
import type { RunInput } from '../evidence/run-input.js';
import { encodeSteps } from '../evidence/step-record.js';
import { byStart } from '../evidence/steps.js';
import { recordDigest, revisionPayloadJson, type RevisionPayload } from '../integrity/chain-entry.js';
import type { RevisionRows } from '../store/run-store.js';

/** Why a revision was evaluated. */
export type EvaluationReason = 'settled' | 'max_open' | 'capped' | 'amended';

/**
 * A judged revision, serialised ahead of its transaction: all that the store writes, and nothing of
 * the spans and verdict it came from, so a pass holding many until its save keeps little alive (a
 * pass's spans and verdicts, kept to the save, were most of what the garbage collector copied and
 * promoted).
 */
export interface PreparedRevision extends RevisionRows {
  readonly reason: EvaluationReason;
}

/**
 * The seal stage of run history (assemble → evaluate → seal → store): a judged run becomes the revision
 * the store appends — its record, the chain payload that proves it, and what the index rows copy.
 * Serialised and digested outside the saving transaction, so the write lock intake also needs is held
 * only for the writes. `revision` is the number it expects to get (the index row's
 * revision + 1); saveRevision renumbers it should it get another.
 */
export function sealRevision(input: RunInput, verdict: RunVerdict, reason: EvaluationReason, evaluatedNs: bigint, revision: number): PreparedRevision {
  const { run_id, ...rest } = verdict;
  const record = JSON.stringify({
    run_id,
    revision,
    ...rest,
    steps: encodeSteps(verdict.steps, verdict.root_span_id, verdict.trace_ids),
    evaluated_at: new Date(Number(evaluatedNs / 1_000_000n)).toISOString(),
    reason,
  });
  let startedNs: bigint | null = null;
  let endedNs: bigint | null = null;
  for (const s of input.spans) {
    if (startedNs === null || s.startNs < startedNs) startedNs = s.startNs;
    if (endedNs === null || s.endNs > endedNs) endedNs = s.endNs;
  }
  const chainPayload: RevisionPayload = {
    run_key: input.runKey,
    revision,
    record_sha256: recordDigest(record),
    spans: [...input.spans].sort(byStart).map((s) => [s.traceId, s.spanId, s.digest] as const),
  };
  return {
    runKey: input.runKey,
    revision,
    reason,
    evaluatedNs,
    record,
    chainPayloadJson: revisionPayloadJson(chainPayload),
    summary: {
      workflow: verdict.workflow,
      kind: verdict.kind,
      status: verdict.status,
      outcome: verdict.outcome,
      actorId: verdict.actor.id,
      definition: verdict.definition,
      startedNs,
      endedNs,
      spanCount: input.spans.length,
      findingCodes: verdict.findings.map((f) => f.code),
      claims: verdict.claims,
    },
  };
}

/**
 * The prepared revision under another number (the store hands out numbers; see RunStore.saveRevision).
 * The record begins with its run id and revision (sealRevision writes them first), so only that
 * beginning is written again; the digests follow.
 */
export function renumbered(prepared: PreparedRevision, revision: number): PreparedRevision {
  const head = (n: number) => `{"run_id":${JSON.stringify(prepared.runKey)},"revision":${n}`;
  if (!prepared.record.startsWith(head(prepared.revision))) throw new Error(`the record of run ${prepared.runKey} does not begin with its run id and revision`);
  const record = head(revision) + prepared.record.slice(head(prepared.revision).length);
  // Parsed again only here (rarely): the payload travels to the ledger as its JSON alone.
  const chainPayload: RevisionPayload = { ...(JSON.parse(prepared.chainPayloadJson) as RevisionPayload), revision, record_sha256: recordDigest(record) };
  return { ...prepared, revision, record, chainPayloadJson: revisionPayloadJson(chainPayload) };
}
