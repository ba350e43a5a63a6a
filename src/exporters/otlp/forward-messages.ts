import type { ForwardResult } from './forwarder.js';
import type { ForwardSignal } from './otlp-exporter.js';

/** Main thread → forwarding worker. */
export type ToForward = { type: 'shutdown' };

/** Forwarding worker → main thread. */
export type FromForward =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'closed' }
  | { type: 'sent'; signal: ForwardSignal; result: ForwardResult; count: number }
  | { type: 'backlog'; signal: ForwardSignal; items: number; lagSeconds: number };
