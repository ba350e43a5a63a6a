import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PATIENCE_MS } from '../support/patience.js';

const FAULTS = resolve(import.meta.dirname, '../../dist-bench/bench/faults.js');
const run = promisify(execFile);

/**
 * The short version of `npm run test:faults` (the script the README's reliability figures come from):
 * the same sections with small parameters, its printed figures asserted here.
 */
describe('fault suite (short run)', () => {
  it('loses no acknowledged span to SIGKILL, answers every malformed body, survives a full disk and refuses overload retryably', async () => {
    const args = ['--cycles', '2', '--exporters', '2', '--fuzz', '200', '--overload', '48', '--overload-limit', '8', '--budget-s', '900', '--json'];
    const { stdout } = await run(process.execPath, [FAULTS, ...args], { maxBuffer: 16 * 1024 * 1024 }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`the fault suite failed:\n${err.stderr ?? ''}\n${err.stdout ?? ''}`);
    });
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, Array<Record<string, unknown>>> & { ok: boolean };

    for (const crash of summary.crash!) {
      expect(crash).toMatchObject({ missing: 0, restarts_failed: 0, verify: { intact: true, declared_gaps: 2, problems: {} } });
      expect(crash.acked_spans).toBeGreaterThan(0);
    }
    expect(summary.fuzz!.map((fuzz) => fuzz.transport)).toEqual(['otlp-grpc', 'otlp-http']);
    for (const fuzz of summary.fuzz!) {
      expect(fuzz).toMatchObject({ requests: 200, unanswered: 0, alive: true, valid_missing: 0, valid_refused_requests: 0 });
      // bodies that cannot be decoded are refused as bad input, never acknowledged or left hanging
      const byKind = fuzz.by_kind as Record<string, Record<string, number>>;
      expect(Object.keys(byKind)).toHaveLength(10);
      for (const kind of ['random_bytes', 'truncated', 'wrong_wire_type', 'huge_length_prefix', 'deep_nesting']) {
        expect(byKind[kind], kind).toEqual({ INVALID_ARGUMENT: 20 });
      }
      expect(byKind.gzip_bomb).toEqual({ RESOURCE_EXHAUSTED: 20 });
      // a span whose strings are not UTF-8 is refused alone: the request is answered OK with it rejected
      expect(byKind.invalid_utf8).toEqual({ PARTIAL_SUCCESS: 20 });
    }
    for (const full of summary['disk-full']!) {
      if ('skipped' in full) continue; // not root, or no mount: the script says why
      expect(full).toMatchObject({ reached_full: true, alive_while_full: true, alive_after: true, missing: 0, unavailable_without_retry_info: 0, verify: { intact: true } });
      expect(full.recovered_after_requests).not.toBeNull();
    }
    for (const overload of summary.overload!) {
      expect(overload).toMatchObject({ alive: true, missing: 0 });
      expect(overload.refused_with_retry_info).toBeGreaterThan(0);
      expect((overload.by_status as Record<string, number>).OK).toBeGreaterThan(0);
    }
    expect(summary.ok).toBe(true);
  }, 10 * PATIENCE_MS);
});
