/**
 * `npm run bench:judge -- DB_DIR [--runs N] [--keep] [--compare JUDGED_DIR] [--appender]`: how fast run
 * history judges, alone on one thread with no intake. With `--appender`, a second thread appends what it
 * judged, as the intake writer's does in `serve` while intake is idle (a backlog draining).
 *
 * DB_DIR is a server directory holding open runs, as `npm run bench:runs -- --scenarios A --keep`
 * leaves it (it prints the path). Its database is copied, then RunHistory (the history worker's code,
 * here on the main thread) judges every open run, or N of them; prints runs/s, CPU per run (the process's
 * and the judging thread's own) and the bytes written per run (WAL and its copies back; Linux). Profile with `node --cpu-prof dist-bench/bench/judge.js ...`.
 *
 * `--compare JUDGED_DIR` then checks that the verdicts equal those of another build: JUDGED_DIR is a
 * directory this bench kept (`--keep`) after judging the same DB_DIR. See compareJudged.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MessageChannel, Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import pino from 'pino';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { recordDigest, type RevisionPayload } from '../src/integrity/chain-entry.js';
import { AppenderLink } from '../src/runs/revision-channel.js';
import { RunHistory, type HistoryEvents } from '../src/runs/run-history.js';
import { WriterTurn } from '../src/store/writer-turn.js';
import { threadCpuSeconds } from './server-process.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string' },
    keep: { type: 'boolean', default: false },
    compare: { type: 'string' },
    appender: { type: 'boolean', default: false },
  },
});
const source = positionals[0];
if (source === undefined) throw new Error('usage: judge.js DB_DIR [--runs N] [--keep]');
const limit = values.runs === undefined ? Number.POSITIVE_INFINITY : Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'runledger-judge-'));
for (const file of ['runledger.db', 'runledger.db-wal']) {
  if (!existsSync(join(source, file))) continue;
  copyFileSync(join(source, file), join(dir, file));
  // Written out before timing: the kernel flushing the copy meanwhile made runs/s vary by a quarter.
  const fd = openSync(join(dir, file), 'r+');
  fsyncSync(fd);
  closeSync(fd);
}
const raw = parse(readFileSync(join(source, 'runledger.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
raw.storage = { sqlite: { ...(raw.storage?.sqlite as object), path: join(dir, 'runledger.db') } };
raw.runs = { ...raw.runs, settle_ms: 1, max_open_ms: 1 };
raw.integrity = { signing_key_file: join(dir, 'signing-key.pem') };
raw.redaction = { hmac_key_file: join(dir, 'redaction-hmac.key') };
writeFileSync(join(dir, 'runledger.yaml'), stringify(raw));
const config = loadConfig(join(dir, 'runledger.yaml'));

let evaluated = 0;
let open = -1;
let resolveDone: () => void;
const done = new Promise<void>((resolve) => (resolveDone = resolve));
const events: HistoryEvents = {
  evaluated: () => {
    if (++evaluated >= limit) resolveDone();
  },
  capped: () => {},
  duplicates: () => {},
  evaluationFailed: () => {},
  openRuns: (count) => {
    open = count;
    if (count === 0 && evaluated > 0) resolveDone();
  },
  checkpointWritten: () => {},
  referenceReload: () => {},
  pruned: () => {},
};
/** Bytes this process passed to write(2) so far (/proc/self/io wchar): the WAL and the copies back into the database. */
const bytesWritten = (): number | undefined => {
  const wchar = existsSync('/proc/self/io') ? /^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8')) : null;
  return wchar === null ? undefined : Number(wchar[1]);
};
/**
 * CPU milliseconds the judging (main) thread used so far (Linux; NaN elsewhere): steadier than runs/s on
 * a VM whose CPU speed drifts, and apart from the appending thread.
 */
const judgingThreadCpuMs = (): number => (threadCpuSeconds(process.pid).get(process.pid) ?? NaN) * 1000;
/** The intake writer's part, without intake: a thread that appends what history hands it (an idle intake). */
function appenderThread(): { link: AppenderLink; worker: Worker } {
  const channel = new MessageChannel();
  const worker = new Worker(new URL('./append-worker.js', import.meta.url), { workerData: { config, port: channel.port2 }, transferList: [channel.port2] });
  return { link: new AppenderLink(channel.port1), worker };
}
const appender = values.appender ? appenderThread() : undefined;
const history = new RunHistory(config, events, pino({ level: 'warn' }), appender === undefined ? {} : { turn: new WriterTurn(), idleAppender: appender.link });
const written0 = bytesWritten();
const cpu0 = process.cpuUsage();
const judgingCpu0 = judgingThreadCpuMs();
const t0 = performance.now();
await history.start();
process.stderr.write(`[judge] ${open} open runs; judging\n`);
await done;
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const judgingCpu1 = judgingThreadCpuMs();
const written1 = bytesWritten();
const writtenPerRun = written0 === undefined || written1 === undefined ? 'n/a' : `${((written1 - written0) / 1024 / evaluated).toFixed(1)} KiB`;
await history.shutdown();
appender?.link.close();
await appender?.worker.terminate();
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(
  `judged ${evaluated} runs in ${(wallMs / 1000).toFixed(2)} s: ${Math.round(evaluated / (wallMs / 1000))} runs/s; ` +
    `CPU ${(cpuMs / evaluated).toFixed(3)} ms per run (${Math.round((100 * cpuMs) / wallMs)}% of one core), ` +
    `judging thread ${((judgingCpu1 - judgingCpu0) / evaluated).toFixed(3)} ms; ` +
    `written ${writtenPerRun} per run (WAL and its copies)\n`,
);
if (values.compare !== undefined) {
  const differences = compareJudged(join(values.compare, 'runledger.db'), join(dir, 'runledger.db'));
  if (differences > 0) process.exitCode = 1;
}
if (values.keep) process.stderr.write(`[judge] kept ${dir}\n`);
else rmSync(dir, { recursive: true, force: true });

/**
 * Compares what two judgements of one corpus stored, and prints the counts: every revision record byte
 * for byte with only its wall-clock `evaluated_at` blanked; each chain revision row's payload with only
 * its record digest blanked (it digests evaluated_at too), after checking that digest against the stored
 * record; the order of revisions in the chain; every column of each run's index row but evaluated_ns;
 * and the finding, trigger and decision rows. Returns the number of differences.
 */
function compareJudged(expectedPath: string, actualPath: string): number {
  const open = (path: string) => new BetterSqlite3(path, { readonly: true, fileMustExist: true }).defaultSafeIntegers(true);
  const [expected, actual] = [open(expectedPath), open(actualPath)];
  /** Rows by their first column; the others normalised (text cells) and joined. */
  const rowsOf = (db: BetterSqlite3.Database, sql: string, normalise: (text: string) => string): Map<string, string> => {
    const out = new Map<string, string>();
    for (const [key, ...rest] of db.prepare(sql).raw().iterate() as IterableIterator<unknown[]>) {
      out.set(String(key), JSON.stringify(rest.map((v) => (typeof v === 'bigint' ? v.toString() : typeof v === 'string' ? normalise(v) : v))));
    }
    return out;
  };
  const blankTime = (record: string) => record.replace(/"evaluated_at":"[^"]*"/, '"evaluated_at":""');
  const badDigests = (db: BetterSqlite3.Database) =>
    (
      db
        .prepare("SELECT c.payload, r.record FROM chain c JOIN run_revisions r ON r.run_key = c.run_key AND r.revision = c.revision WHERE c.kind = 'revision'")
        .raw()
        .all() as Array<[string, string]>
    ).filter(([payload, record]) => (JSON.parse(payload) as RevisionPayload).record_sha256 !== recordDigest(record)).length;
  const checks: Array<[string, string, (value: string) => string]> = [
    ['revision records', "SELECT run_key || '/' || revision, reason, status, outcome, record FROM run_revisions", blankTime],
    [
      'chain revision payloads',
      "SELECT run_key || '/' || revision, payload FROM chain WHERE kind = 'revision'",
      (payload) => payload.replace(/"record_sha256":"[0-9a-f]{64}"/, '"record_sha256":""'),
    ],
    ['chain order of revisions', "SELECT row_number() OVER (ORDER BY seq), run_key || '/' || revision FROM chain WHERE kind = 'revision'", (v) => v],
    [
      'run index rows',
      `SELECT run_key, state, revision, workflow, kind, status, outcome, actor_id, definition, started_ns, ended_ns, first_received_ns,
         last_received_ns, has_root, span_count, judged_spans, duplicate_spans FROM runs`,
      (v) => v,
    ],
    ['finding rows', "SELECT run_key || '/' || revision || '/' || code, started_ns FROM run_findings", (v) => v],
    ['trigger claims', "SELECT event_key || '/' || run_key, claimed_ns FROM trigger_events", (v) => v],
    ['decision claims', "SELECT decision_id || '/' || run_key, claimed_ns FROM decision_ids", (v) => v],
  ];
  let differences = 0;
  for (const [name, sql, normalise] of checks) {
    const [a, b] = [rowsOf(expected, sql, normalise), rowsOf(actual, sql, normalise)];
    let same = 0;
    const differing: string[] = [];
    for (const [key, value] of a) {
      if (b.get(key) === value) same++;
      else differing.push(key);
    }
    for (const key of b.keys()) if (!a.has(key)) differing.push(key);
    differences += differing.length;
    process.stdout.write(`compare ${name}: ${same} equal, ${differing.length} differ${differing.length > 0 ? ` (first: ${differing.slice(0, 3).join(', ')})` : ''}\n`);
  }
  for (const [name, db] of [['expected', expected], ['actual', actual]] as const) {
    const bad = badDigests(db);
    differences += bad;
    process.stdout.write(`compare ${name} record digests: ${bad} do not match their record\n`);
  }
  expected.close();
  actual.close();
  return differences;
}
