import type { Finding } from '../findings.js';
import type { RunFacts } from '../run-facts.js';

/** One rule or a few close ones: what the facts of a run show against them. Pure but for `run.history`. */
export type Check = (run: RunFacts) => readonly Finding[];
