import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAIN } from '../support/runledger-process.js';
import { PATIENCE_MS } from '../support/patience.js';

const DOCUMENTED_CONFIG = resolve(import.meta.dirname, '../../config/runledger.yaml');

/** Runs the CLI with no RUNLEDGER_* variables from the developer's shell leaking in. */
function runledgerCli(...args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RUNLEDGER_')));
  const result = spawnSync(process.execPath, [MAIN, ...args], { env, encoding: 'utf8', timeout: PATIENCE_MS });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-config-'));
  tempDirs.push(dir);
  const path = join(dir, 'runledger.yaml');
  writeFileSync(path, text);
  return path;
}

const TWO_PROBLEMS = `
receiver:
  otlp_grpc:
    endpont: 0.0.0.0:4317
runs:
  settle_ms: -1
`;

describe('runledger config check', () => {
  it('lists every problem by YAML path and exits non-zero', () => {
    const { status, stdout, stderr } = runledgerCli('config', 'check', '--config', configFile(TWO_PROBLEMS));
    expect(status).toBeGreaterThan(0); // null would mean it hung (e.g. serve started) and was killed
    const output = stdout + stderr;
    expect(output).toMatch(/receiver\.otlp_grpc\.endpont\b.*unknown key/);
    expect(output).toMatch(/runs\.settle_ms\b/);
  });

  it('accepts the documented config/runledger.yaml', () => {
    const { status, stdout, stderr } = runledgerCli('config', 'check', '--config', DOCUMENTED_CONFIG);
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
    expect(stdout).toContain('configuration is valid');
  });

  it('refuses to serve with an invalid config, listing the same problems', () => {
    const { status, stderr } = runledgerCli('serve', '--config', configFile(TWO_PROBLEMS));
    expect(status).toBeGreaterThan(0); // null would mean it hung (e.g. serve started) and was killed
    expect(stderr).toContain('receiver.otlp_grpc.endpont');
    expect(stderr).toContain('runs.settle_ms');
  });
});
