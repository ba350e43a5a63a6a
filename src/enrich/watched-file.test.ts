import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../errors.js';
import { contentRevision } from './data-file.js';
import { loadInventory, type Inventory } from './inventory.js';
import { WatchedFile } from './watched-file.js';

const INTERVAL_MS = 20;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'runledger-watched-'));
}

/** A loader that accepts lines "value=N" and throws on anything else, like a schema would. */
function loadValue(path: string): number {
  const text = readFileSync(path, 'utf8');
  const match = /^value=(\d+)\n?$/.exec(text);
  if (match === null) throw new ConfigError(path, ['value: expected "value=N"']);
  return Number(match[1]);
}

interface Recorded<T> {
  readonly file: WatchedFile<T>;
  readonly reloads: Array<{ value: T; revision: string }>;
  readonly errors: unknown[];
}

const started: Array<WatchedFile<unknown>> = [];
afterEach(async () => {
  for (const file of started.splice(0)) await file.shutdown();
});

function watch<T>(path: string, load: (path: string) => T, intervalMs = INTERVAL_MS): Recorded<T> {
  const reloads: Array<{ value: T; revision: string }> = [];
  const errors: unknown[] = [];
  const file = new WatchedFile(path, load, {
    intervalMs,
    onReload: (value, revision) => reloads.push({ value, revision }),
    onError: (err) => errors.push(err),
  });
  started.push(file as WatchedFile<unknown>);
  return { file, reloads, errors };
}

/** Generous, so a loaded CI machine does not fail a test that only waits for the next poll. */
const eventually = (assertion: () => void) => vi.waitFor(assertion, { timeout: 5000, interval: 10 });

/** Several poll intervals: long enough for a change to be seen, to show that nothing happened. */
const quietPeriod = () => new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 6));

describe('WatchedFile', () => {
  it('loads at start and reports the first value with the revision of its bytes', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, reloads } = watch(path, loadValue);
    expect(file.current()).toBeUndefined();

    await file.start();

    expect(file.current()).toBe(1);
    expect(file.revision()).toBe(contentRevision('value=1\n'));
    expect(reloads).toEqual([{ value: 1, revision: contentRevision('value=1\n') }]);
  });

  it('reloads when the file is edited in place', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, reloads } = watch(path, loadValue);
    await file.start();

    writeFileSync(path, 'value=2\n');

    await eventually(() => expect(file.current()).toBe(2));
    expect(reloads.map((r) => r.value)).toEqual([1, 2]);
    expect(file.revision()).toBe(contentRevision('value=2\n'));
  });

  it('sees a same-size edit however coarse the file timestamps are', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file } = watch(path, loadValue);
    await file.start();
    const stat = statSync(path);

    writeFileSync(path, 'value=9\n');
    utimesSync(path, stat.atime, stat.mtime);

    await eventually(() => expect(file.current()).toBe(9));
  });

  it('sees a file replaced by an atomic rename', async () => {
    const dir = tempDir();
    const path = join(dir, 'value');
    writeFileSync(path, 'value=1\n');
    const { file } = watch(path, loadValue);
    await file.start();

    writeFileSync(join(dir, 'value.tmp'), 'value=3\n');
    renameSync(join(dir, 'value.tmp'), path);

    await eventually(() => expect(file.current()).toBe(3));
  });

  it('sees a Kubernetes ConfigMap update (the ..data symlink swapped to a new directory)', async () => {
    const dir = tempDir();
    const publish = (version: string, text: string) => {
      mkdirSync(join(dir, version));
      writeFileSync(join(dir, version, 'value'), text);
      symlinkSync(version, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    publish('..2025_11_24_10_00_00.1', 'value=1\n');
    symlinkSync('..data/value', join(dir, 'value'));
    const { file } = watch(join(dir, 'value'), loadValue);
    await file.start();

    publish('..2025_11_24_10_05_00.2', 'value=4\n');
    rmSync(join(dir, '..2025_11_24_10_00_00.1'), { recursive: true });

    await eventually(() => expect(file.current()).toBe(4));
  });

  it('keeps the last good value in force when an edit breaks the file, and reports the error once', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, reloads, errors } = watch(path, loadValue);
    await file.start();

    writeFileSync(path, 'value=oops\n');
    await eventually(() => expect(errors).toHaveLength(1));
    await quietPeriod();

    expect(file.current()).toBe(1);
    expect(file.revision()).toBe(contentRevision('value=1\n'));
    expect(file.isStale()).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConfigError);
    expect((errors[0] as ConfigError).message).toContain(path);
    expect(reloads).toHaveLength(1);
  });

  it('does not report a file caught mid-write that is whole by the next poll', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, errors } = watch(path, loadValue, 60_000);
    await file.start();

    writeFileSync(path, 'val');
    file.poll();
    writeFileSync(path, 'value=2\n');
    file.poll();

    expect(errors).toEqual([]);
    expect(file.current()).toBe(2);
  });

  it('reports a broken file on the second poll that finds it broken, and not again', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, errors } = watch(path, loadValue, 60_000);
    await file.start();

    writeFileSync(path, 'broken');
    file.poll();
    expect(errors).toHaveLength(0);
    expect(file.isStale()).toBe(false);
    file.poll();
    file.poll();

    expect(errors).toHaveLength(1);
    expect(file.isStale()).toBe(true);
  });

  it('reports each distinct broken edit, and recovers on the next good one', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, errors } = watch(path, loadValue);
    await file.start();

    writeFileSync(path, 'broken\n');
    await eventually(() => expect(errors).toHaveLength(1));
    writeFileSync(path, 'broken again\n');
    await eventually(() => expect(errors).toHaveLength(2));
    writeFileSync(path, 'value=5\n');

    await eventually(() => expect(file.current()).toBe(5));
    expect(file.isStale()).toBe(false);
  });

  it('keeps the value when the file disappears, and needs no reload when the same content returns', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, reloads, errors } = watch(path, loadValue);
    await file.start();

    rmSync(path);
    await eventually(() => expect(errors).toHaveLength(1));
    expect((errors[0] as ConfigError).problems[0]).toMatch(/^cannot read file: ENOENT/);
    await quietPeriod();
    expect(errors).toHaveLength(1);
    expect(file.current()).toBe(1);

    writeFileSync(path, 'value=1\n');
    await eventually(() => expect(file.isStale()).toBe(false));
    expect(reloads).toHaveLength(1);
  });

  it('reports an onReload that throws through onError and keeps the new value', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const errors: unknown[] = [];
    let calls = 0;
    const file = new WatchedFile(path, loadValue, {
      intervalMs: INTERVAL_MS,
      onReload: () => {
        calls++;
        if (calls > 1) throw new Error('subscriber failed');
      },
      onError: (err) => errors.push(err),
    });
    started.push(file as WatchedFile<unknown>);
    await file.start();

    writeFileSync(path, 'value=2\n');

    await eventually(() => expect(errors).toHaveLength(1));
    expect((errors[0] as Error).message).toBe('subscriber failed');
    expect(file.current()).toBe(2);
  });

  it('fails start when the file cannot be read', async () => {
    const path = join(tempDir(), 'missing');
    const { file } = watch(path, loadValue);

    await expect(file.start()).rejects.toThrow(ConfigError);
    expect(file.current()).toBeUndefined();
  });

  it('fails start with the load error when the file is invalid', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'nonsense\n');
    const { file, reloads } = watch(path, loadValue);

    await expect(file.start()).rejects.toThrow(/expected "value=N"/);
    expect(reloads).toEqual([]);
  });

  it('shuts down before start and when called twice', async () => {
    const file = new WatchedFile(join(tempDir(), 'never-created'), loadValue, { onError: () => undefined });
    await file.shutdown();
    await file.shutdown();
    await expect(file.start()).rejects.toThrow(/shut down/);
  });

  it('stops polling on shutdown and keeps the last value readable', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, reloads } = watch(path, loadValue);
    await file.start();
    await file.shutdown();
    await file.shutdown();

    writeFileSync(path, 'value=2\n');
    await quietPeriod();
    file.poll();

    expect(file.current()).toBe(1);
    expect(reloads).toHaveLength(1);
  });

  it('starting twice loads once', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file, reloads } = watch(path, loadValue);
    await file.start();
    await file.start();
    expect(reloads).toHaveLength(1);
  });

  it('reloads on demand with poll(), without waiting for the interval', async () => {
    const path = join(tempDir(), 'value');
    writeFileSync(path, 'value=1\n');
    const { file } = watch(path, loadValue, 60_000);
    await file.start();

    writeFileSync(path, 'value=7\n');
    file.poll();

    expect(file.current()).toBe(7);
  });

  it('rejects an interval that is not a positive integer', () => {
    expect(() => new WatchedFile('x', loadValue, { intervalMs: 0, onError: () => undefined })).toThrow(RangeError);
    expect(() => new WatchedFile('x', loadValue, { intervalMs: 1.5, onError: () => undefined })).toThrow(RangeError);
  });

  it('keeps the previous inventory in force when an edit introduces a duplicate key', async () => {
    const path = join(tempDir(), 'identities.yaml');
    const entry = (id: string, key: string) => `  - { id: ${id}, type: workload, owner: o, team: t, tier: standard, keys: [${key}] }\n`;
    writeFileSync(path, `identities:\n${entry('a', 'key-a')}`);
    const { file, errors } = watch<Inventory>(path, loadInventory);
    await file.start();

    writeFileSync(path, `identities:\n${entry('a', 'key-a')}${entry('b', 'key-a')}`);
    await eventually(() => expect(errors).toHaveLength(1));
    expect((errors[0] as ConfigError).problems).toEqual(['identities.1.keys.0: key "key-a" refers to both "a" (identities.0.keys.0) and "b"']);
    expect(file.current()?.size).toBe(1);

    writeFileSync(path, `identities:\n${entry('a', 'key-a')}${entry('b', 'key-b')}`);
    await eventually(() => expect(file.current()?.resolve('key-b')?.id).toBe('b'));
    expect(file.current()?.revision).toBe(file.revision());
  });
});
