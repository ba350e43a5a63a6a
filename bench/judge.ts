/**
 * `npm run bench:judge -- DB_DIR [--runs N] [--keep]`: how fast run history judges, alone on one thread.
 *
 * DB_DIR is a server directory holding open runs, as `npm run bench:runs -- --scenarios A --keep`
 * leaves it (it prints the path). Its database is copied, then RunHistory (the history worker's code,
 * here on the main thread) judges every open run, or N of them; prints runs/s, CPU per run and the
 * bytes written per run (WAL and its copies back; Linux). Profile with `node --cpu-prof dist-bench/bench/judge.js ...`.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { RunHistory, type HistoryEvents } from '../src/runs/run-history.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string' }, keep: { type: 'boolean', default: false } } });
const source = positionals[0];
if (source === undefined) throw new Error('usage: judge.js DB_DIR [--runs N] [--keep]');
const limit = values.runs === undefined ? Number.POSITIVE_INFINITY : Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'runledger-judge-'));
for (const file of ['runledger.db', 'runledger.db-wal']) if (existsSync(join(source, file))) copyFileSync(join(source, file), join(dir, file));
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
const history = new RunHistory(config, events, pino({ level: 'warn' }));
const written0 = bytesWritten();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await history.start();
process.stderr.write(`[judge] ${open} open runs; judging\n`);
await done;
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const written1 = bytesWritten();
const writtenPerRun = written0 === undefined || written1 === undefined ? 'n/a' : `${((written1 - written0) / 1024 / evaluated).toFixed(1)} KiB`;
await history.shutdown();
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(
  `judged ${evaluated} runs in ${(wallMs / 1000).toFixed(2)} s: ${Math.round(evaluated / (wallMs / 1000))} runs/s; ` +
    `CPU ${(cpuMs / evaluated).toFixed(3)} ms per run (${Math.round((100 * cpuMs) / wallMs)}% of one core); ` +
    `written ${writtenPerRun} per run (WAL and its copies)\n`,
);
if (values.keep) process.stderr.write(`[judge] kept ${dir}\n`);
else rmSync(dir, { recursive: true, force: true });
