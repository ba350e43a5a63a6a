import type { RunVerdict } from '../evidence/evaluate.js';
import type { RunHistory } from '../evidence/run-input.js';
import type { Claimant } from '../store/run-store.js';


/** The stored claims evaluation reads: the first run to use a key, and each workflow's last definition. */
export interface ClaimSource {
  firstTriggerClaimant(eventKey: string): Claimant | undefined;
  firstDecisionClaimant(decisionId: string): Claimant | undefined;
  lastDefinition(workflow: string, exceptRunKey: string, startNs: bigint): { definition: string; runKey: string; startNs: bigint } | undefined;
}

/**
 * The history one evaluation pass judges against: what is stored plus the claims of runs judged
 * earlier in the same pass (saved together afterwards) and in the pass before, while its save is still
 * under way, so two runs using one trigger are caught however they fall into passes. Of two claimants
 * the one that started first is the original.
 */
export class TickHistory implements RunHistory {
  private readonly triggers = new Map<string, Claimant>();
  private readonly decisions = new Map<string, Claimant>();
  /** Every definition judged in this pass, by workflow: the one a run compares with may be any of them. */
  private readonly definitions = new Map<string, Array<{ definition: string; runKey: string; startNs: bigint }>>();

  constructor(
    private readonly stored: ClaimSource,
    /** The pass before, while its save is under way: its claims may not be in the store yet. */
    private unsaved?: TickHistory,
  ) {}

  /** The pass before is stored now (this pass's own save begins only after it): stop reading it. */
  beforeSaved(): void {
    this.unsaved = undefined;
  }

  runWithTrigger(eventKey: string, exceptRunKey: string, startNs: bigint): string | undefined {
    const claimants = [this.stored.firstTriggerClaimant(eventKey), this.triggers.get(eventKey), this.unsaved?.triggers.get(eventKey)];
    return original(claimants, exceptRunKey, startNs);
  }

  runWithDecision(decisionId: string, exceptRunKey: string, startNs: bigint): string | undefined {
    const claimants = [this.stored.firstDecisionClaimant(decisionId), this.decisions.get(decisionId), this.unsaved?.decisions.get(decisionId)];
    return original(claimants, exceptRunKey, startNs);
  }

  lastDefinition(workflow: string, exceptRunKey: string, startNs: bigint): { definition: string; runKey: string } | undefined {
    // The run that started last before this one, among those judged in this pass, in the unsaved one
    // (in this order, so a tie goes to this pass, as it would were the other stored) and those stored.
    let local: { definition: string; runKey: string; startNs: bigint } | undefined;
    for (const judged of [this.definitions.get(workflow), this.unsaved?.definitions.get(workflow)]) {
      for (const d of judged ?? []) {
        if (d.runKey !== exceptRunKey && d.startNs <= startNs && (local === undefined || d.startNs > local.startNs)) local = d;
      }
    }
    const stored = this.stored.lastDefinition(workflow, exceptRunKey, startNs);
    if (local === undefined) return stored;
    return stored !== undefined && stored.startNs > local.startNs ? stored : local;
  }

  /** Records what a verdict claims, for the runs judged after it in this pass. */
  record(verdict: RunVerdict, startNs: bigint): void {
    const claimant = { runKey: verdict.run_id, claimedNs: startNs };
    if (verdict.claims.trigger_event !== null) keepFirst(this.triggers, verdict.claims.trigger_event, claimant);
    for (const id of verdict.claims.decision_ids) keepFirst(this.decisions, id, claimant);
    if (verdict.workflow !== null && verdict.claims.definition !== null) {
      const judged = { definition: verdict.claims.definition, runKey: verdict.run_id, startNs };
      const list = this.definitions.get(verdict.workflow);
      if (list === undefined) this.definitions.set(verdict.workflow, [judged]);
      else list.push(judged);
    }
  }
}

function keepFirst(map: Map<string, Claimant>, key: string, claimant: Claimant): void {
  const existing = map.get(key);
  if (existing === undefined || claimant.claimedNs < existing.claimedNs) map.set(key, claimant);
}

function original(claimants: Array<Claimant | undefined>, self: string, startNs: bigint): string | undefined {
  let first: Claimant | undefined;
  for (const c of claimants) {
    if (c === undefined || c.runKey === self) continue;
    if (first === undefined || c.claimedNs < first.claimedNs) first = c;
  }
  return first !== undefined && first.claimedNs <= startNs ? first.runKey : undefined;
}
