import type { AppliedProfiles, FromProfile } from './applied-profiles.js';
import { celAttributes, compileCel, holds } from './cel.js';
import type { ChangeRequirement } from './profiles.js';
import type { RunSpan } from './run-input.js';
import { byStart, type SpanEvidence } from './steps.js';

/**
 * complete: every change the profiles ask for took; partial: one is absent, failed or did not take;
 * failed: changes were attempted and none succeeded, or the run failed before acting; unknown: the
 * profiles ask for a change and none was recorded, so the evidence cannot say how the run ended.
 */
export type Outcome = 'complete' | 'partial' | 'failed' | 'unknown';

/** One attempt of a change (a span with an operation), or a tool call (operation execute_tool). */
export interface ChangeAttempt {
  readonly span: RunSpan;
  readonly evidence: SpanEvidence;
  readonly operation: string;
  readonly target: string | undefined;
  readonly failed: boolean;
  /** A tool call: its target is the tool's name. */
  readonly toolCall: boolean;
}

/** A reason the run is partial: a required change absent, failed or not taken, or a change that failed. */
export interface Shortfall {
  readonly message: string;
  readonly spanId?: string;
  /** The requirement it falls short of; absent for a failed change nobody required. */
  readonly requirement?: FromProfile<ChangeRequirement>;
}

export interface ChangeJudgement {
  readonly attempts: readonly ChangeAttempt[];
  /** The last attempt of each (operation, target): a retry that succeeded makes the change succeed. */
  readonly finals: readonly ChangeAttempt[];
  readonly outcome: Outcome;
  readonly shortfalls: readonly Shortfall[];
  /** No change was attempted, and the run declared a failure or was denied. */
  readonly failedBeforeActing: boolean;
}

/** The outcome computed from the change steps (DESIGN §5), never copied from the declared result. */
export function judgeChanges(
  attempts: readonly ChangeAttempt[],
  profiles: AppliedProfiles,
  run: { readonly declaredFailure: boolean; readonly denied: boolean },
): ChangeJudgement {
  const required = profiles.requiredChanges;
  const finals = finalAttempts(attempts);
  const failedBeforeActing = attempts.length === 0 && (run.declaredFailure || run.denied);
  const shortfalls = requiredShortfalls(required, finals, attempts);
  for (const f of finals) {
    if (f.failed && !required.some((r) => r.operation === f.operation)) {
      shortfalls.push({ message: `${f.operation} of ${f.target ?? '(no target)'} failed`, spanId: f.span.spanId });
    }
  }
  let outcome: Outcome;
  if (attempts.length === 0) {
    // Nothing recorded: a declared failure (or a deny) says how it ended; otherwise the evidence does
    // not, unless no profile asked this run to change anything.
    if (failedBeforeActing) outcome = 'failed';
    else outcome = required.length > 0 || profiles.requireChange !== undefined ? 'unknown' : 'complete';
  } else if (!finals.some((f) => !f.failed)) outcome = 'failed';
  else outcome = shortfalls.length > 0 ? 'partial' : 'complete';
  return { attempts, finals, outcome, shortfalls, failedBeforeActing };
}

function finalAttempts(attempts: readonly ChangeAttempt[]): ChangeAttempt[] {
  const last = new Map<string, ChangeAttempt>();
  for (const a of attempts) {
    const key = `${a.operation}\u0000${a.target ?? ''}`;
    const prev = last.get(key);
    if (prev === undefined || a.span.endNs >= prev.span.endNs) last.set(key, a);
  }
  return [...last.values()];
}

function requiredShortfalls(
  required: AppliedProfiles['requiredChanges'],
  finals: readonly ChangeAttempt[],
  attempts: readonly ChangeAttempt[],
): Shortfall[] {
  const out: Shortfall[] = [];
  for (const requirement of required) {
    const ofOp = finals.filter((f) => f.operation === requirement.operation);
    const why = requirement.message === undefined ? '' : `: ${requirement.message}`;
    if (ofOp.length === 0) {
      out.push({ message: `required ${requirement.operation} step is absent${why}`, requirement });
      continue;
    }
    if (requirement.must_succeed) {
      for (const f of ofOp.filter((a) => a.failed)) {
        out.push({ message: `required ${requirement.operation} of ${f.target ?? '(no target)'} failed${why}`, spanId: f.span.spanId, requirement });
      }
    }
    if (requirement.expect !== undefined) {
      const lastAttempt = attempts.filter((a) => a.operation === requirement.operation).sort((a, b) => byStart(a.span, b.span)).at(-1)!;
      const span = lastAttempt.span;
      const result = holds(compileCel(requirement.expect), {
        attributes: celAttributes({ ...span.resource, ...span.attributes }),
        name: span.name,
        status: span.statusCode === 2 ? 'error' : span.statusCode === 1 ? 'ok' : 'unset',
      });
      if (!result.ok) out.push({ message: `${requirement.operation} does not show the change took${why}`, spanId: span.spanId, requirement });
    }
  }
  return out;
}
