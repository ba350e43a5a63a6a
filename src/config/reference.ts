import { z } from 'zod';
import { configSchema } from './schema.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  enum?: unknown[];
  required?: string[];
  anyOf?: JsonSchema[];
}

function jsonSchema(): JsonSchema {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/**
 * The documented default config, generated from the schema so it cannot drift:
 * every key with its default and its description as a one-line comment.
 */
export function renderDefaultConfigYaml(): string {
  const lines = [
    '# runledger configuration: every key with its default.',
    '# Generated from the schema by `npm run docs:config`; `runledger config check --config FILE` validates a file.',
    '# Environment overrides: RUNLEDGER_CONFIG (this file), RUNLEDGER_OTLP_GRPC_ENDPOINT, RUNLEDGER_OTLP_HTTP_ENDPOINT, RUNLEDGER_HTTP_ENDPOINT, RUNLEDGER_DB_PATH.',
  ];
  renderObject(jsonSchema(), 0, lines);
  return `${lines.join('\n')}\n`;
}

function renderObject(schema: JsonSchema, depth: number, lines: string[], commentedOut = false): void {
  const indent = '  '.repeat(depth);
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (depth === 0) lines.push('');
    const comment = child.description ? `  # ${child.description}` : '';
    // An optional key with no default is shown commented out: `key:` would read as null and fail config check.
    const off = commentedOut || (child.default === undefined && !(schema.required ?? []).includes(key));
    const lead = off ? `${indent}# ` : indent;
    if (child.properties !== undefined) {
      lines.push(`${lead}${key}:${comment}`);
      renderObject(child, depth + 1, lines, off);
    } else {
      lines.push(`${lead}${key}: ${yamlValue(child.default)}${comment}`);
    }
  }
}

function yamlValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return /^[\w./:-]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
  return JSON.stringify(value);
}

/** The README's configuration reference: one row per key. */
export function renderConfigReferenceMarkdown(): string {
  const rows: string[] = ['| key | default | meaning |', '|---|---|---|'];
  const walk = (schema: JsonSchema, prefix: string) => {
    for (const [key, child] of Object.entries(schema.properties ?? {})) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      if (child.properties !== undefined) walk(child, path);
      else rows.push(`| \`${path}\` | \`${JSON.stringify(child.default ?? null)}\` | ${child.description ?? ''} |`);
    }
  };
  walk(jsonSchema(), '');
  return `${rows.join('\n')}\n`;
}
