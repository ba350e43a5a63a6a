import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';

export type DataFormat = 'yaml' | 'json';

/** A data file read once: its parsed document and the revision of the exact bytes it came from. */
export interface DataFile {
  readonly source: string;
  readonly raw: unknown;
  /** First 16 hex digits of the SHA-256 of the file bytes. */
  readonly revision: string;
}

/** First 16 hex digits of the SHA-256 of `bytes`: the revision runledger records for a data file. */
export function contentRevision(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** JSON by a `.json` extension or, for any other name, by a document that starts with `{` or `[`. */
export function detectFormat(source: string, text: string): DataFormat {
  const ext = extname(source).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  const first = text.trimStart()[0];
  return first === '{' || first === '[' ? 'json' : 'yaml';
}

/**
 * Parses YAML or JSON. Both go through the `yaml` parser so duplicate keys are an error in either
 * (JSON.parse would silently keep the last one); JSON uses the strict JSON schema, so `yes` is not a value.
 */
export function parseDataText(text: string, source: string, format: DataFormat = detectFormat(source, text)): unknown {
  const doc = parseDocument(text, { schema: format === 'json' ? 'json' : 'core', uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const label = format === 'json' ? 'JSON' : 'YAML';
    // The first line carries the message with line and column; the rest is a source excerpt.
    throw new ConfigError(
      source,
      doc.errors.map((e) => `${label}: ${e.message.split('\n')[0]!.replace(/:$/, '')}`),
    );
  }
  return doc.toJS() as unknown;
}

/** Reads and parses a data file; every failure is a ConfigError naming the file. */
export function readDataFile(path: string): DataFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConfigError(path, [`cannot read file: ${(err as Error).message}`]);
  }
  const text = bytes.toString('utf8');
  return { source: path, raw: parseDataText(text, path), revision: contentRevision(bytes) };
}

/** For reading a raw document leniently (duplicate checks that run alongside schema validation). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
