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
  /** `redactions`: values erased from the batch's span bodies, by `target\0reason`. */
  | { type: 'committed'; id: number; redactions: Array<[string, number]> }
  /** Nothing of the batch is stored: the commit failed (retryable) or a span body is malformed. */
  | { type: 'not_committed'; id: number; code: 'STORAGE_UNAVAILABLE' | 'REQUEST_MALFORMED'; message: string }
  | { type: 'expired'; spans: number }
  | { type: 'closed' };
