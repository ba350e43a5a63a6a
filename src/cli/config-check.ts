import { loadConfig, type Env } from '../config/load.js';
import { ConfigError } from '../errors.js';

export interface CheckResult {
  readonly ok: boolean;
  readonly output: string;
}

/** `runledger config check`: every problem listed at once, by YAML path. */
export function checkConfig(path: string | undefined, env: Env): CheckResult {
  try {
    loadConfig(path, env);
    return { ok: true, output: `${path ?? '(defaults)'}: configuration is valid` };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, output: err.message };
    throw err;
  }
}
