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
 * Parses YAML or JSON; duplicate keys are an error in both. JSON goes through JSON.parse, which reads
 * megabytes in milliseconds where the YAML parser reads about 1.5 MB/s — large generated inventories
 * should be JSON — and then through a scan for duplicate keys, which JSON.parse would silently collapse.
 */
export function parseDataText(text: string, source: string, format: DataFormat = detectFormat(source, text)): unknown {
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(source, [`JSON: ${(err as Error).message}`]);
    }
    const duplicate = findDuplicateJsonKey(text);
    if (duplicate !== undefined) {
      throw new ConfigError(source, [`JSON: duplicate key "${duplicate.key}" at line ${duplicate.line}`]);
    }
    return value;
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    // The first line carries the message with line and column; the rest is a source excerpt.
    throw new ConfigError(source, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`));
  }
  return doc.toJS() as unknown;
}

/**
 * The first key that occurs twice in one object of `text`, which must be valid JSON. A string is a key
 * when the next non-blank character is ':'.
 */
export function findDuplicateJsonKey(text: string): { key: string; line: number } | undefined {
  // One entry per open object or array; arrays hold undefined.
  const open: Array<Set<string> | undefined> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) open.push(new Set());
    else if (c === 0x5b /* [ */) open.push(undefined);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) open.pop();
    else if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      const keys = open[open.length - 1];
      if (keys === undefined || !isFollowedByColon(text, i + 1)) continue;
      const raw = text.slice(start, i + 1);
      const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      if (keys.has(key)) return { key, line: lineOf(text, start) };
      keys.add(key);
    }
  }
  return undefined;
}

function isFollowedByColon(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a /* : */) return true;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return false;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 0x0a) line++;
  return line;
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
