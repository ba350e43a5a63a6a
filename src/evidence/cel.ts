import { parse } from '@marcbachmann/cel-js';
import { z } from 'zod';
import type { AttributeValue, Attributes } from '../otlp/attributes.js';

export type CelProgram = (context: Record<string, unknown>) => unknown;

/** A CEL expression, checked for syntax when the config is validated. */
export const celExpressionSchema = z
  .string()
  .min(1)
  .superRefine((source, ctx) => {
    try {
      parse(source);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid CEL: ${(err as Error).message.split('\n')[0]}` });
    }
  });

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
