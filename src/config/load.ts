import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

/** Environment variables that override single keys, for containers (DESIGN §10). */
const ENV_OVERRIDES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['RUNLEDGER_OTLP_GRPC_ENDPOINT', ['receiver', 'otlp_grpc', 'endpoint']],
  ['RUNLEDGER_OTLP_HTTP_ENDPOINT', ['receiver', 'otlp_http', 'endpoint']],
  ['RUNLEDGER_HTTP_ENDPOINT', ['http', 'endpoint']],
  ['RUNLEDGER_DB_PATH', ['storage', 'sqlite', 'path']],
];

export type Env = Readonly<Record<string, string | undefined>>;

/** The config file to use: --config, else RUNLEDGER_CONFIG, else none (all defaults). */
export function configPath(flag: string | undefined, env: Env): string | undefined {
  return flag ?? (env.RUNLEDGER_CONFIG || undefined);
}

export function loadConfig(path: string | undefined, env: Env = process.env): Readonly<Config> {
  const source = path ?? '(defaults)';
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(source, [`cannot read file: ${(err as Error).message}`]);
    }
    raw = parseYaml(text, source);
  }
  return parseConfig(applyEnvOverrides(raw, env), source);
}

export function parseConfig(raw: unknown, source = '(inline)'): Readonly<Config> {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(source, formatIssues(result.error));
  return deepFreeze(result.data);
}

function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(source, doc.errors.map((e) => `YAML: ${e.message}`));
  return doc.toJS() as unknown;
}

function applyEnvOverrides(raw: unknown, env: Env): unknown {
  // A document that is not a mapping is left for the schema to reject (an empty file is null: defaults).
  if (raw === null || raw === undefined) raw = {};
  if (!isPlainObject(raw)) return raw;
  const root: Record<string, unknown> = structuredClone(raw);
  for (const [name, path] of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let node = root;
    for (const key of path.slice(0, -1)) {
      if (!isPlainObject(node[key])) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return root;
}

/** Every issue, as "yaml.path: message", so one run of `config check` lists them all. */
export function formatIssues(error: ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${path === '' ? key : `${path}.${key}`}: unknown key`);
    }
    return [`${path === '' ? '(root)' : path}: ${issue.message}`];
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Freezes every object of the config, and what its lists hold, but not the lists themselves: V8 walks
 * a frozen array on a slow path (`some` over a frozen list of 8 rules took ~10× as long), and lists
 * such as filter rules are walked for every span.
 */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    if (!Array.isArray(value)) Object.freeze(value);
  }
  return value;
}
