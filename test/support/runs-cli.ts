import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { MAIN } from './runledger-process.js';
import { readDb } from './stored-spans.js';
import { PATIENCE_MS } from './patience.js';

const run = promisify(execFile);

/** A finding as `runs show --json` prints it. */
export interface FindingView {
  readonly code: string;
  readonly severity: string;
  readonly rule?: string;
  readonly profile?: string;
  readonly field?: string;
  readonly span_id?: string;
  readonly span_ids?: readonly string[];
  readonly message: string;
  readonly controls: readonly string[];
}

export interface StepView {
  readonly span_id: string;
  readonly parent_span_id: string | null;
  readonly trace_id: string;
  readonly name: string;
  readonly type: 'decision' | 'change' | 'tool_call' | 'agent' | 'workflow' | 'task' | 'other';
  /** Set on the run's root span. */
  readonly root?: true;
  readonly service: string | null;
  readonly status: 'ok' | 'error' | 'unset';
  readonly succeeded?: boolean;
  readonly evidence: Readonly<Record<string, string>>;
  readonly actor?: { readonly id: string; readonly reported_id?: string; readonly registered?: boolean };
}

export interface RevisionView {
  readonly revision: number;
  readonly evaluated_at: string;
  readonly reason: string;
  readonly status: string;
  readonly outcome: string;
}

/** A run as the CLI prints it with `--json` (`runs list` leaves out steps and evidence). */
export interface RunView {
  readonly run_id: string;
  readonly revision: number;
  readonly state: 'open' | 'evaluated';
  readonly workflow?: string | null;
  readonly kind?: string | null;
  readonly status?: 'compliant' | 'incomplete' | 'violation';
  readonly outcome?: 'complete' | 'partial' | 'failed' | 'unknown';
  readonly declared_result?: string | null;
  readonly actor?: { readonly id: string | null; readonly type: string | null; readonly authn: string | null };
  readonly requester_id?: string | null;
  readonly trigger?: { readonly kind: string | null; readonly event: string | null };
  readonly root_span_id?: string | null;
  readonly trace_ids?: readonly string[];
  readonly span_count?: number;
  readonly profiles?: readonly string[];
  readonly evidence?: Readonly<Record<string, string>>;
  readonly findings?: readonly FindingView[];
  readonly steps?: readonly StepView[];
  readonly revisions?: readonly RevisionView[];
  readonly reason?: string;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node dist/main.js ARGS...` and returns its exit code and output (never throws on exit code). */
export async function runledgerCli(args: readonly string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, ...args], { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failure = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof failure.code !== 'number') throw err;
    return { code: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

/** `runs show RUN_ID --json`; undefined when the run is unknown (exit code 3). */
export async function showRun(configPath: string, runId: string, options: { revision?: number } = {}): Promise<RunView | undefined> {
  const args = ['runs', 'show', runId, '--config', configPath, '--json'];
  if (options.revision !== undefined) args.push('--revision', String(options.revision));
  const result = await runledgerCli(args);
  if (result.code === 3) return undefined;
  if (result.code !== 0) throw new Error(`runs show ${runId} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as RunView;
}

/** `runs show RUN_ID` as plain text. */
export async function showRunText(configPath: string, runId: string): Promise<string> {
  const result = await runledgerCli(['runs', 'show', runId, '--config', configPath]);
  if (result.code !== 0) throw new Error(`runs show ${runId} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

export interface ListFilter {
  readonly status?: string;
  readonly workflow?: string;
  readonly kind?: string;
  readonly actor?: string;
  readonly finding?: string;
  readonly limit?: number;
}

/** `runs list --json` with the given filters. */
export async function listRuns(configPath: string, filter: ListFilter = {}): Promise<RunView[]> {
  const args = ['runs', 'list', '--config', configPath, '--json'];
  for (const [key, value] of Object.entries(filter)) if (value !== undefined) args.push(`--${key}`, String(value));
  const result = await runledgerCli(args);
  if (result.code !== 0) throw new Error(`runs list exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as RunView[];
}

export interface WaitOptions {
  /** Wait until each run reached at least this revision (1 = evaluated once). */
  readonly minRevision?: number;
  readonly timeoutMs?: number;
}

/**
 * Waits until every run has been evaluated (to `minRevision`), polling the run index read-only:
 * each CLI call costs a Node start, so the CLI is used to read results, not to poll.
 */
export async function waitForRuns(dbPath: string, runIds: readonly string[], options: WaitOptions = {}): Promise<void> {
  const minRevision = options.minRevision ?? 1;
  const deadline = Date.now() + (options.timeoutMs ?? PATIENCE_MS);
  let behind: string[] = [...runIds];
  for (;;) {
    const revisions = readDb(dbPath, (db) => {
      const select = db.prepare('SELECT revision FROM runs WHERE run_key = ?').pluck();
      return new Map(behind.map((id) => [id, (select.get(id) as number | undefined) ?? -1]));
    });
    behind = behind.filter((id) => revisions.get(id)! < minRevision);
    if (behind.length === 0) return;
    if (Date.now() > deadline) {
      const state = behind.map((id) => `${id} (revision ${revisions.get(id) === -1 ? 'none: unknown run' : revisions.get(id)})`);
      throw new Error(`runs not evaluated to revision ${minRevision} in time: ${state.join(', ')}`);
    }
    await sleep(50);
  }
}

/** Waits for one run's evaluation, then reads it with `runs show --json`. */
export async function waitForRun(
  p: { readonly dbPath: string; readonly configPath: string },
  runId: string,
  options: WaitOptions = {},
): Promise<RunView> {
  await waitForRuns(p.dbPath, [runId], options);
  const view = await showRun(p.configPath, runId);
  if (view === undefined) throw new Error(`run ${runId} was evaluated but runs show does not find it`);
  return view;
}

/** Finding codes of a run, sorted, for exact comparisons. */
export const codesOf = (run: RunView): string[] => (run.findings ?? []).map((f) => f.code).sort();

/** `code` or `code:field`, sorted: the compact form the profile tests compare. */
export const findingsOf = (run: RunView): string[] =>
  (run.findings ?? []).map((f) => (f.field === undefined ? f.code : `${f.code}:${f.field}`)).sort();
