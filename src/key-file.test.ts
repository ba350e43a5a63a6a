import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createKeyFile } from './key-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('createKeyFile', () => {
  it('creates the file once, with its mode; a later creator keeps the first content and leaves no temporary file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-key-file-'));
    dirs.push(dir);
    const path = join(dir, 'keys', 'secret.key');

    expect(createKeyFile(path, 'first\n', 0o600)).toBe(true);
    expect(createKeyFile(path, 'second\n', 0o600)).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('first\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'keys'))).toEqual(['secret.key']);
  });
});
