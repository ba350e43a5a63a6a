/**
 * Problem kinds, after CloudTrail's validator (one named result per way a file can be wrong: not
 * found, modified, signature invalid, public key not found), plus the tables queries read.
 */
export type ProblemKind =
  | 'record_altered'
  | 'record_missing'
  | 'record_unchained'
  | 'run_deleted'
  | 'index_mismatch'
  | 'reordered'
  | 'signature_invalid'
  | 'unknown_key'
  | 'checkpoint_forged'
  | 'checkpoint_mismatch'
  | 'truncated'
  | 'declared_gap';

export interface VerifyProblem {
  readonly kind: ProblemKind;
  readonly seq?: number;
  readonly run_id?: string;
  readonly revision?: number;
  readonly message: string;
}
