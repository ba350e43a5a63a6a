/**
 * What the benchmarks print alike: numbers, tables, the machine line, the noise warning, and the
 * parsing of the options they share.
 */
import { arch, cpus, platform, totalmem } from 'node:os';
import type { GeneratorResult } from './otlp-client.js';

/** CPU of other processes (in % of one core) above which a measurement counts as disturbed. */
export const NOISE_CPU_PERCENT = 15;

/** A number with thousands separators and `digits` decimals; n/a when it is not finite. */
export const num = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

export const check = (ok: boolean) => (ok ? 'met' : 'MISSED');

/** Calls answered with an error, by gRPC status, and spans rejected; '0' when there were none. */
export function errorsText(g: GeneratorResult): string {
  const parts = Object.entries(g.errors).map(([code, n]) => `${code}×${n}`);
  if (g.spansRejected > 0) parts.push(`rejected spans ${g.spansRejected}`);
  return parts.length === 0 ? '0' : parts.join(' ');
}

/**
 * A text table: header, dashes, rows; the first column aligned left, the others right (the last one left
 * too with `lastLeft`), each line prefixed with `indent`.
 */
export function table(header: readonly string[], rows: readonly string[][], options: { readonly lastLeft?: boolean; readonly indent?: string } = {}): string[] {
  const indent = options.indent ?? '';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const left = (i: number) => i === 0 || (options.lastLeft === true && i === header.length - 1);
  const fmt = (row: readonly string[]) => `${indent}${row.map((cell, i) => (left(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`;
  return [fmt(header), `${indent}${widths.map((n) => '-'.repeat(n)).join('  ')}`, ...rows.map(fmt)];
}

/** The `machine:` line of a report. */
export function machineLine(): string {
  const cpu = cpus();
  return `machine:  ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${platform()} ${arch()}, node ${process.version}`;
}

/** The machine, as the JSON reports give it. */
export function machineJson(): Record<string, unknown> {
  const cpu = cpus();
  return { cpus: cpu.length, cpuModel: cpu[0]?.model.trim(), totalMemBytes: totalmem(), platform: platform(), arch: arch(), node: process.version };
}

/**
 * The warning for measurements during which other processes used more than NOISE_CPU_PERCENT of a core
 * (label and percentage of each); none when there were none.
 */
export function noiseWarning(measurements: ReadonlyArray<readonly [label: string, otherCpuPercent: number]>): string[] {
  const noisy = measurements.filter(([, percent]) => percent > NOISE_CPU_PERCENT);
  if (noisy.length === 0) return [];
  return [
    `WARNING: CPU was used outside the server and the generator during the run (${noisy.map(([label, percent]) => `${label}: ${num(percent)}%`).join(', ')} of one core, on ${cpus().length} cores): the figures are disturbed; rerun on an idle machine.`,
  ];
}

// ---------------------------------------------------------------- options

/** A number in (0, max], or an error naming the option. */
export function positive(name: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`--${name} must be a number in (0, ${max}]`);
  return n;
}

/** An integer in [min, max], or an error naming the option. */
export function integer(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}]`);
  return n;
}

/** The warm-up seconds: the option when it is a number ≥ 0, else 2. */
export const warmupSeconds = (value: string) => (Number(value) >= 0 ? Number(value) : 2);

export function synchronousOption(value: string): 'full' | 'normal' {
  if (value !== 'full' && value !== 'normal') throw new Error('--synchronous must be full or normal');
  return value;
}

/** `--set KEY=VALUE` options as config overrides (VALUE parsed as JSON when it is JSON, else a string). */
export function parseOverrides(entries: readonly string[]): Array<readonly [string, unknown]> {
  return entries.map((entry): readonly [string, unknown] => {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects KEY=VALUE, got ${entry}`);
    const raw = entry.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a bare string
    }
    return [entry.slice(0, eq), value];
  });
}
