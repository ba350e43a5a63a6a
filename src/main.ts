#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, configPath } from './config/load.js';
import { checkConfig } from './cli/config-check.js';
import { formatRun, formatRunTable } from './cli/runs.js';
import { formatVerifyReport, runVerify } from './cli/verify.js';
import { openDatabase } from './store/database.js';
import { RunQueries } from './store/run-queries.js';
import { RunStore } from './store/run-store.js';
import { RunLoader } from './runs/run-loader.js';
import { ChainStore } from './store/chain-store.js';
import { buildEvidenceBundle } from './api/evidence-bundle.js';
import { listRuns, showRun } from './api/run-record.js';
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { createLogger } from './logger.js';
import { Runledger } from './pipeline/runledger.js';
import { podIdentityAttributes } from './enrich/pod-identity.js';
import { limitHeapGrowth } from './pipeline/heap-growth.js';

const program = new Command()
  .name('runledger')
  .description('Audit-grade workflow execution history for non-human identities, from OpenTelemetry traces')
  .showHelpAfterError();

program
  .command('serve')
  .description('receive OTLP/gRPC traces and keep workflow run history')
  .option('-c, --config <file>', 'YAML configuration file (default: $RUNLEDGER_CONFIG, else built-in defaults)')
  .action(async (options: { config?: string }) => {
    const config = loadConfig(configPath(options.config, process.env));
    const logger = createLogger(config.telemetry.logs.level);
    limitHeapGrowth();
    const runledger = new Runledger(config, logger, podIdentityAttributes(process.env));
    let stopping: Promise<void> | undefined;
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      stopping ??= runledger.shutdown().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    try {
      await runledger.start();
    } catch (err) {
      logger.fatal({ err }, 'start failed');
      await runledger.shutdown();
      process.exit(1);
    }
  });

const configCommand = program.command('config').description('configuration tools');
configCommand
  .command('check')
  .description('validate a configuration file and list every problem by YAML path')
  .option('-c, --config <file>', 'YAML configuration file (default: $RUNLEDGER_CONFIG)')
  .action((options: { config?: string }) => {
    const result = checkConfig(configPath(options.config, process.env), process.env);
    (result.ok ? process.stdout : process.stderr).write(`${result.output}\n`);
    process.exitCode = result.ok ? 0 : 1;
  });

const runsCommand = program.command('runs').description('query run history (safe while serve runs)');
runsCommand
  .command('list')
  .description('list evaluated runs, newest first')
  .option('-c, --config <file>', 'YAML configuration file (default: $RUNLEDGER_CONFIG)')
  .option('--status <status>', 'compliant, incomplete or violation')
  .option('--workflow <name>', 'workflow name')
  .option('--kind <kind>', 'run kind (profile)')
  .option('--actor <id>', 'acting identity')
  .option('--finding <code>', 'runs whose latest revision has this finding code')
  .option('--limit <n>', 'at most this many runs (1..1000)', (v) => parsePositiveInt(v, '--limit'), 100)
  .option('--json', 'print JSON')
  .action((options: { config?: string; json?: boolean; limit: number } & Record<string, string | undefined>) => {
    withQueries(options.config, (queries) => {
      const { runs } = listRuns(queries, {
        ...pick(options, ['status', 'workflow', 'kind', 'actor', 'finding']),
        limit: options.limit,
      });
      process.stdout.write(`${options.json ? JSON.stringify(runs, null, 2) : formatRunTable(runs)}\n`);
    });
  });
runsCommand
  .command('show')
  .description('show one run: summary, findings, ordered steps and revisions')
  .argument('<run_id>', 'the run id (or trace id for runs without one)')
  .option('-c, --config <file>', 'YAML configuration file (default: $RUNLEDGER_CONFIG)')
  .option('--revision <n>', 'a given revision instead of the latest', (v) => parsePositiveInt(v, '--revision'))
  .option('--json', 'print JSON')
  .action((runId: string, options: { config?: string; revision?: number; json?: boolean }) => {
    withQueries(options.config, (queries) => {
      const run = showRun(queries, runId, options.revision);
      if (run === undefined) {
        process.stderr.write(`run ${runId} not found\n`);
        process.exitCode = 3;
        return;
      }
      process.stdout.write(`${options.json ? JSON.stringify(run, null, 2) : formatRun(run)}\n`);
    });
  });

program
  .command('export')
  .description('print the evidence bundle of one run (JSON): revisions, spans, findings, chain proof')
  .argument('<run_id>', 'the run id')
  .option('-c, --config <file>', 'YAML configuration file (default: $RUNLEDGER_CONFIG)')
  .action((runId: string, options: { config?: string }) => {
    const config = loadConfig(configPath(options.config, process.env));
    const db = openDatabase(config.storage.sqlite, { readonly: true });
    try {
      const pub = `${config.integrity.signing_key_file}.pub`;
      const bundle = buildEvidenceBundle(
        {
          queries: new RunQueries(db),
          runs: new RunLoader(new RunStore(db)),
          chain: new ChainStore(db),
          ...(existsSync(pub) ? { publicKeyPem: readFileSync(pub, 'utf8') } : {}),
        },
        runId,
      );
      if (bundle === undefined) {
        process.stderr.write(`run ${runId} not found\n`);
        process.exitCode = 3;
        return;
      }
      process.stdout.write(`${JSON.stringify(bundle, null, 2)}\n`);
    } finally {
      db.close();
    }
  });

program
  .command('verify')
  .description('walk the hash chain and report altered, missing or reordered records, bad signatures and declared gaps')
  .option('-c, --config <file>', 'YAML configuration file (default: $RUNLEDGER_CONFIG)')
  .option('--from <seq>', 'start at this chain sequence number', (v) => parsePositiveInt(v, '--from'))
  .option('--public-key <file>', 'trusted Ed25519 public key (PEM); repeat for rotated keys', (v, all: string[]) => [...all, v], [])
  .option('--json', 'print JSON')
  .action((options: { config?: string; from?: number; publicKey: string[]; json?: boolean }) => {
    const config = loadConfig(configPath(options.config, process.env));
    const report = runVerify(config, { ...(options.from !== undefined ? { from: options.from } : {}), publicKeys: options.publicKey });
    process.stdout.write(`${options.json ? JSON.stringify(report, null, 2) : formatVerifyReport(report)}\n`);
    process.exitCode = report.intact ? 0 : 1;
  });

function withQueries(configFlag: string | undefined, use: (queries: RunQueries) => void): void {
  const config = loadConfig(configPath(configFlag, process.env));
  const db = openDatabase(config.storage.sqlite, { readonly: true });
  try {
    use(new RunQueries(db));
  } finally {
    db.close();
  }
}

function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer`);
  return n;
}

function pick<T extends Record<string, unknown>, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`runledger: ${(err as Error).message}\n`);
  process.exit(1);
}
