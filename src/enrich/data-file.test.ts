import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { contentRevision, detectFormat, findDuplicateJsonKey, parseDataText, readDataFile } from './data-file.js';

function write(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'runledger-data-')), name);
  writeFileSync(path, text);
  return path;
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('data files', () => {
  it('chooses the format by extension, else by the first character', () => {
    expect(detectFormat('x.json', 'a: 1')).toBe('json');
    expect(detectFormat('x.YML', '{"a": 1}')).toBe('yaml');
    expect(detectFormat('configmap-key', '  {"a": 1}')).toBe('json');
    expect(detectFormat('configmap-key', 'a: 1')).toBe('yaml');
  });

  it('rejects duplicate keys in JSON as well as YAML', () => {
    expect(problemsOf(() => parseDataText('{"a": 1,\n "a": 2}', 'f.json'))).toEqual(['JSON: duplicate key "a" at line 2']);
    expect(problemsOf(() => parseDataText('a: 1\na: 2\n', 'f.yaml'))[0]).toMatch(/^YAML: Map keys must be unique/);
  });

  it('parses JSON strictly: bare words are not values', () => {
    expect(problemsOf(() => parseDataText('{"a": yes}', 'f.json'))[0]).toMatch(/^JSON: /);
    expect(problemsOf(() => parseDataText('{"a": 1,}', 'f.json'))[0]).toMatch(/^JSON: /);
  });

  it('finds duplicate JSON keys only within one object', () => {
    expect(findDuplicateJsonKey('{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "c": "a"}')).toBeUndefined();
    expect(findDuplicateJsonKey('[{"x": 1, "y": {"x": 2}, "x": 3}]')).toEqual({ key: 'x', line: 1 });
    expect(findDuplicateJsonKey('{"q\\"": 1, "q\\u0022" : 2}')).toEqual({ key: 'q"', line: 1 });
    expect(findDuplicateJsonKey('{"k": "v:\\\\", "v:\\\\": 1, "k2": ["k", "k"]}')).toBeUndefined();
  });

  it('names the file and the OS reason when it cannot be read', () => {
    const path = join(tmpdir(), 'runledger-missing-file.yaml');
    try {
      readDataFile(path);
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).message).toContain(path);
      expect((err as ConfigError).problems[0]).toMatch(/^cannot read file: ENOENT/);
    }
  });

  it('revises by the exact bytes of the file', () => {
    const text = 'identities: []\n';
    const file = readDataFile(write('inv.yaml', text));
    expect(file.revision).toBe(createHash('sha256').update(text).digest('hex').slice(0, 16));
    expect(file.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(contentRevision('identities: []  \n')).not.toBe(file.revision);
    expect(file.raw).toEqual({ identities: [] });
  });
});
