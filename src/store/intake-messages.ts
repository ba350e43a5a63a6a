import type { IntakeRows } from './intake-rows.js';

/** Main thread → intake writer. */
export type ToIntake =
  | { type: 'rows'; id: number; rows: IntakeRows }
  | { type: 'expire_pending'; receivedBeforeNs: bigint }
  | { type: 'shutdown' };

/** Intake writer → main thread. */
export type FromIntake =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'committed'; id: number }
  /** The commit failed: nothing of the batch is stored, the sender may retry. */
  | { type: 'not_committed'; id: number; message: string }
  | { type: 'expired'; spans: number }
  | { type: 'closed' };
