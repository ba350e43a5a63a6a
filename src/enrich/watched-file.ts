import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { Component } from '../pipeline/component.js';
import { contentRevision } from './data-file.js';

export interface WatchedFileOptions<T> {
  /** How often the file is read and hashed, in milliseconds. Default 5000. */
  readonly intervalMs?: number;
  /** A new value is in force: after the first load in start(), then after each change that loaded. */
  readonly onReload?: (value: T, revision: string) => void;
  /**
   * The file could not be read or loaded on two polls in a row; the previous value stays in force. Called
   * once per distinct failure (not on every poll), and when onReload throws. Must not throw: it runs on a timer.
   */
  readonly onError: (err: unknown) => void;
}

const DEFAULT_INTERVAL_MS = 5000;

/**
 * A file loaded at start and reloaded when its content changes. Changes are found by hashing the content
 * on every poll, not by watching: fs.watch misses the atomic symlink swap Kubernetes uses to update a
 * mounted ConfigMap, and mtime+size misses a same-size edit within the filesystem's timestamp resolution.
 */
export class WatchedFile<T> implements Component {
  readonly path: string;
  private readonly load: (path: string) => T;
  private readonly options: WatchedFileOptions<T>;
  private readonly intervalMs: number;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private timer: NodeJS.Timeout | undefined;
  private value: T | undefined;
  /** Revision of the content `value` was loaded from. */
  private goodRevision: string | undefined;
  /** Revision of the content the last poll handled, loaded or not: unchanged content is not retried. */
  private seenRevision: string | undefined;
  /** A failure seen once; it is reported only if the next poll sees it again. */
  private suspect: string | undefined;
  /** The failure last reported, so a file that stays broken is reported once. */
  private failure: string | undefined;

  constructor(path: string, load: (path: string) => T, options: WatchedFileOptions<T>) {
    const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs <= 0) {
      throw new RangeError(`intervalMs must be a positive integer, got ${intervalMs}`);
    }
    this.path = path;
    this.load = load;
    this.options = options;
    this.intervalMs = intervalMs;
  }

  /** The value in force: the last content that loaded. Undefined before start(). */
  current(): T | undefined {
    return this.value;
  }

  /** First 16 hex digits of the SHA-256 of the content the current value came from. */
  revision(): string | undefined {
    return this.goodRevision;
  }

  /** True from the report of a failure until a poll loads the file, or finds the in-force content again. */
  isStale(): boolean {
    return this.failure !== undefined;
  }

  /** Loads the file and starts polling. Rejects with the load error when the first load fails. */
  async start(): Promise<void> {
    if (this.state === 'running') return;
    if (this.state === 'stopped') throw new Error(`watched file ${this.path} was shut down and cannot be restarted`);
    // Hash before loading: if the file changes in between, the next poll sees a new hash and reloads.
    // (Hashing after would pair old content with the new hash, and the change would never be picked up.)
    const revision = contentRevision(readBytes(this.path));
    const value = this.load(this.path);
    this.value = value;
    this.goodRevision = revision;
    this.seenRevision = revision;
    this.state = 'running';
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    // Polling alone must not keep the process alive once everything else has shut down.
    this.timer.unref();
    this.options.onReload?.(value, revision);
  }

  /**
   * Checks the file now and reloads it if its content changed. The timer calls this; call it directly to
   * reload on demand (e.g. on SIGHUP). Does nothing unless started.
   */
  poll(): void {
    if (this.state !== 'running') return;
    let bytes: Buffer;
    try {
      bytes = readBytes(this.path);
    } catch (err) {
      // Forget the seen content so the same bytes are compared again once the file is back.
      this.seenRevision = undefined;
      this.fail(`read:${(err as Error).message}`, err);
      return;
    }
    const revision = contentRevision(bytes);
    if (revision === this.seenRevision) return;
    if (revision === this.goodRevision) {
      this.seenRevision = revision;
      this.recovered();
      return;
    }
    let value: T;
    try {
      value = this.load(this.path);
    } catch (err) {
      // Not marked seen until reported, so the next poll loads it again to confirm the failure.
      if (this.fail(`load:${revision}`, err)) this.seenRevision = revision;
      return;
    }
    this.value = value;
    this.goodRevision = revision;
    this.seenRevision = revision;
    this.recovered();
    try {
      this.options.onReload?.(value, revision);
    } catch (err) {
      this.options.onError(err);
    }
  }

  /** Stops polling; the current value stays readable. Safe before start() and when called twice. */
  async shutdown(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.state = 'stopped';
  }

  /**
   * Reports a failure the second time in a row it is seen, and only once: a writer that truncates then
   * writes (an editor, `cat >`) can be caught mid-write, and that must not count as a broken file.
   * Returns whether the failure has been reported.
   */
  private fail(key: string, err: unknown): boolean {
    if (key === this.failure) return true;
    if (key !== this.suspect) {
      this.suspect = key;
      return false;
    }
    this.suspect = undefined;
    this.failure = key;
    this.options.onError(err);
    return true;
  }

  private recovered(): void {
    this.suspect = undefined;
    this.failure = undefined;
  }
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(path, [`cannot read file: ${(err as Error).message}`]);
  }
}
