#!/usr/bin/env node
import { Command } from 'commander';
import { loadConfig, configPath } from './config/load.js';
import { checkConfig } from './cli/config-check.js';
import { ConfigError } from './errors.js';
import { createLogger } from './logger.js';
import { Runledger } from './pipeline/runledger.js';

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
    const runledger = new Runledger(config, logger);
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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
