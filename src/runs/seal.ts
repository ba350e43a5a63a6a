import type { RunVerdict } from '../evidence/evaluate.js';
import type { RunInput } from '../evidence/run-input.js';
import { encodeSteps } from '../evidence/step-record.js';
import { byStart } from '../evidence/steps.js';
import { recordDigest, revisionPayloadJson, type RevisionPayload } from '../integrity/chain-entry.js';
import type { EvaluationReason, PreparedRevision } from '../store/run-store.js';

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
    chainPayload,
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
