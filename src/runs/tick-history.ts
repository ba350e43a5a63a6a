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
 * earlier in the same pass (saved together afterwards) and in the passes before it that are not saved
 * yet (each links to the one before it until that one is stored), so two runs using one trigger are
 * caught however they fall into passes. Of two claimants the one that started first is the original.
 */
export class TickHistory implements RunHistory {
  private readonly triggers = new Map<string, Claimant>();
  private readonly decisions = new Map<string, Claimant>();
  /** Every definition judged in this pass, by workflow: the one a run compares with may be any of them. */
  private readonly definitions = new Map<string, Array<{ definition: string; runKey: string; startNs: bigint }>>();

  constructor(
    private readonly stored: ClaimSource,
    /** The pass before, while it is not saved yet: its claims (and those it links to) may not be in the store. */
    private unsaved?: TickHistory,
  ) {}

  /** The pass before is stored now (this pass's own save begins only after it): stop reading it. */
  beforeSaved(): void {
    this.unsaved = undefined;
  }

  runWithTrigger(eventKey: string, exceptRunKey: string, startNs: bigint): string | undefined {
    const claimants = [this.stored.firstTriggerClaimant(eventKey)];
    for (const pass of this.passes()) claimants.push(pass.triggers.get(eventKey));
    return original(claimants, exceptRunKey, startNs);
  }

  runWithDecision(decisionId: string, exceptRunKey: string, startNs: bigint): string | undefined {
    const claimants = [this.stored.firstDecisionClaimant(decisionId)];
    for (const pass of this.passes()) claimants.push(pass.decisions.get(decisionId));
    return original(claimants, exceptRunKey, startNs);
  }

  lastDefinition(workflow: string, exceptRunKey: string, startNs: bigint): { definition: string; runKey: string } | undefined {
    // The run that started last before this one, among those judged in this pass, in the unsaved ones
    // (newest first, so a tie goes to the newer pass, as it would were the older one stored) and those stored.
    let local: { definition: string; runKey: string; startNs: bigint } | undefined;
    for (const pass of this.passes()) {
      for (const d of pass.definitions.get(workflow) ?? []) {
        if (d.runKey !== exceptRunKey && d.startNs <= startNs && (local === undefined || d.startNs > local.startNs)) local = d;
      }
    }
    const stored = this.stored.lastDefinition(workflow, exceptRunKey, startNs);
    if (local === undefined) return stored;
    return stored !== undefined && stored.startNs > local.startNs ? stored : local;
  }

  /** This pass, then each pass before it not saved yet, newest first. */
  private passes(): TickHistory[] {
    const passes: TickHistory[] = [this];
    for (let pass = this.unsaved; pass !== undefined; pass = pass.unsaved) passes.push(pass);
    return passes;
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
