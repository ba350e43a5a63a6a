import { Environment, parse } from '@marcbachmann/cel-js';
import { z } from 'zod';
import type { AttributeValue, Attributes } from '../otlp/attributes.js';

export type CelProgram = (context: Record<string, unknown>) => unknown;

/**
 * A CEL expression over the variables `env` declares, checked when the config is validated: a typo
 * in a variable or function, or an expression that cannot give a bool, fails the start rather than
 * every run it would judge.
 */
function celExpressionSchema(env: Environment) {
  return z
    .string()
    .min(1)
    .superRefine((source, ctx) => {
      const checked = env.check(source);
      if (!checked.valid) {
        ctx.addIssue({ code: 'custom', message: `invalid CEL: ${checked.error?.message.split('\n')[0] ?? 'does not check'}` });
      } else if (checked.type !== 'bool' && checked.type !== 'dyn') {
        ctx.addIssue({ code: 'custom', message: `invalid CEL: the expression gives ${checked.type}, not a bool` });
      }
    });
}

/** A profile constraint: over `run` (evidence fields), `steps` and the root span's `attributes` (see evaluateRun). */
export const constraintExpressionSchema = celExpressionSchema(
  new Environment()
    .registerVariable('run', 'map<string, string>')
    .registerVariable('steps', 'list<map<string, dyn>>')
    .registerVariable('attributes', 'map<string, dyn>'),
);

/** A required change's `expect`: over its last attempt's `attributes`, `name` and `status`. */
export const expectExpressionSchema = celExpressionSchema(
  new Environment().registerVariable('attributes', 'map<string, dyn>').registerVariable('name', 'string').registerVariable('status', 'string'),
);

const compiled = new Map<string, CelProgram>();

export function compileCel(source: string): CelProgram {
  let program = compiled.get(source);
  if (program === undefined) {
    program = parse(source) as CelProgram;
    compiled.set(source, program);
  }
  return program;
}

/** Runs a boolean CEL program; an error (e.g. a missing key) counts as not holding, with its reason. */
export function holds(program: CelProgram, context: Record<string, unknown>): { ok: boolean; error?: string } {
  try {
    return { ok: program(context) === true };
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  }
}

/** CEL has no JS number ints: integral numbers become int (bigint), bytes become hex strings. */
export function celAttributes(attributes: Attributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(attributes)) out[key] = celValue(value);
  return out;
}

function celValue(value: AttributeValue): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map(celValue);
  if (typeof value === 'object') return celAttributes(value);
  return value;
}

interface CelNode {
  readonly op: string;
  readonly args: unknown;
}

const isNode = (x: unknown): x is CelNode => typeof x === 'object' && x !== null && typeof (x as CelNode).op === 'string';
const literalText = (x: unknown): string | undefined => (isNode(x) && x.op === 'value' && typeof x.args === 'string' ? x.args : undefined);

/**
 * The keys of `variable` (a map) that a CEL expression reads, when each read names its key literally
 * (`v["k"]`, `v.k`, `has(v.k)`, `"k" in v`); undefined when it may read any key (`size(v)`,
 * `v.exists(...)`, `v[someVar]`). Lets run history decode only the attributes a profile can look at.
 */
export function celKeysRead(source: string, variable: string): string[] | undefined {
  const keys: string[] = [];
  let opaque = false;
  const visit = (value: unknown, parent: CelNode | undefined): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, parent);
      return;
    }
    if (!isNode(value)) return;
    if (value.op === 'id' && value.args === variable) {
      const key = parent === undefined ? undefined : literalKey(parent, value);
      if (key === undefined) opaque = true;
      else keys.push(key);
      return;
    }
    visit(value.args, value);
  };
  visit((parse(source) as unknown as { ast: unknown }).ast, undefined);
  return opaque ? undefined : keys;
}

function literalKey(parent: CelNode, map: CelNode): string | undefined {
  const args = parent.args as unknown[];
  if (parent.op === '[]' && args[0] === map) return literalText(args[1]);
  if (parent.op === '.' && args[0] === map && typeof args[1] === 'string') return args[1];
  if (parent.op === 'in' && args[1] === map) return literalText(args[0]);
  return undefined;
}
