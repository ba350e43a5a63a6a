import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { VerifyReport } from '../../src/integrity/verify.js';
import { stringify } from 'yaml';
import { runledgerCli } from './runs-cli.js';

/** A copy of a stopped runledger store in its own directory, with a config that points at it. */
export interface StoreCopy {
  readonly dir: string;
  readonly dbPath: string;
  readonly configPath: string;
}

/**
 * Copies a store (the database and, if present, its WAL) into a fresh temp dir as `runledger.db`,
 * the name `startRunledger({ dir })` uses, so a copy can be verified, tampered with or served.
 */
export function copyStore(dbPath: string, integrity: Record<string, unknown>): StoreCopy {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-copy-'));
  const copy = join(dir, 'runledger.db');
  copyFileSync(dbPath, copy);
  for (const suffix of ['-wal', '-shm']) if (existsSync(`${dbPath}${suffix}`)) copyFileSync(`${dbPath}${suffix}`, `${copy}${suffix}`);
  const configPath = join(dir, 'verify.yaml');
  writeFileSync(configPath, stringify({ storage: { sqlite: { path: copy } }, integrity }));
  return { dir, dbPath: copy, configPath };
}

/** Edits a store the way an attacker with write access to the file would: plain SQL, no runledger code. */
export function tamper(dbPath: string, edit: (db: BetterSqlite3.Database) => void): void {
  const db = new BetterSqlite3(dbPath, { fileMustExist: true });
  try {
    db.transaction(() => edit(db))();
  } finally {
    db.close();
  }
}

/** The JSON `runledger verify --json` prints: the walker's own report type. */
export type VerifyReportView = VerifyReport;

export interface VerifyOutcome {
  readonly code: number;
  readonly report: VerifyReportView;
  readonly stderr: string;
}

/** `runledger verify --config F --json [args]`; fails the test when no JSON report was printed. */
export async function verifyStore(configPath: string, args: readonly string[] = []): Promise<VerifyOutcome> {
  const result = await runledgerCli(['verify', '--config', configPath, '--json', ...args]);
  let report: VerifyReportView;
  try {
    report = JSON.parse(result.stdout) as VerifyReportView;
  } catch (err) {
    throw new Error(`verify printed no JSON report (exit ${result.code}): ${result.stderr}${result.stdout}`, { cause: err });
  }
  return { code: result.code, report, stderr: result.stderr };
}

/** The distinct problem kinds of a report, sorted. */
export const problemKinds = (report: VerifyReportView): string[] => [...new Set(report.problems.map((p) => p.kind))].sort();
