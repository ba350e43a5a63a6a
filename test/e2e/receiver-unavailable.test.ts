import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { metricValue } from '../support/metrics.js';
import {
  decodeStatusDetails,
  retryDelayMsOf,
  retryInfosOf,
  workflowRequest,
} from '../support/otlp-request.js';
import { RawOtlpClient, type ExportOutcome } from '../support/raw-otlp-client.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { spansNamedLike } from '../support/stored-spans.js';
import { holdWriteLock } from '../support/store-lock.js';
import { RETRY_INFO_TYPE_URL } from '../../src/otlp/proto.js';


/**
 * UNAVAILABLE carrying a google.rpc.Status (same code and message) whose one detail is a RetryInfo,
 * named by its type URL so clients recognise it (the Collector, grpc-go status.Details), with the
 * configured delay.
 */
function expectRetryableRefusal(outcome: ExportOutcome, delayMs: number, message: RegExp): void {
  expect(outcome.code).toBe(grpc.status.UNAVAILABLE);
  expect(outcome.details).toMatch(message);
  expect(outcome.statusDetails).toBeDefined();
  const status = decodeStatusDetails(outcome.statusDetails!);
  expect(status.code).toBe(grpc.status.UNAVAILABLE);
  expect(status.message).toBe(outcome.details);
  expect(status.details.map((d) => d.typeUrl)).toEqual([RETRY_INFO_TYPE_URL]);
  expect(retryDelayMsOf(status.details[0]!.value)).toBe(delayMs);
  expect(retryInfosOf(outcome.statusDetails)).toEqual([delayMs]);
}

const storedIds = (dbPath: string, prefix: string) => spansNamedLike(dbPath, `${prefix}-%`).map((s) => s.span_id).sort();

describe('receiver refusing with UNAVAILABLE and RetryInfo', () => {
  let runledger: RunledgerProcess | undefined;
  let client: RawOtlpClient | undefined;
  let lock: { release(): void } | undefined;

  afterEach(async () => {
    lock?.release();
    lock = undefined;
    client?.close();
    client = undefined;
    await runledger?.stop();
    if (runledger) rmSync(runledger.dir, { recursive: true, force: true });
    runledger = undefined;
  });

  it('answers UNAVAILABLE with RetryInfo while storage is locked, and stores the retry once it is free', async () => {
    runledger = await startRunledger({
      config: {
        storage: { sqlite: { busy_timeout_ms: 50 } },
        receiver: { otlp_grpc: { retry_delay_ms: 1500 } },
      },
    });
    client = new RawOtlpClient(runledger.grpcPort);
    const { body, spanIds } = workflowRequest('locked', 3);

    lock = holdWriteLock(runledger.dbPath);
    const refused = await client.export(body);
    expectRetryableRefusal(refused, 1500, /storage/);
    expect(storedIds(runledger.dbPath, 'locked')).toEqual([]);
    expect(await metricValue(runledger.httpUrl, 'runledger_spans_rejected_total', { reason: 'storage_unavailable', transport: 'grpc' })).toBe(3);

    lock.release();
    const retried = await client.export(body);
    expect(retried.code).toBe(grpc.status.OK);
    expect(storedIds(runledger.dbPath, 'locked')).toEqual([...spanIds].sort());
  });

  // max_concurrent_requests counts requests between their arrival and their commit. better-sqlite3
  // is synchronous, so while a commit waits on the lock the whole event loop waits with it and no
  // request can observe another "in flight" across loop turns. What can be observed: requests that
  // piled up in the socket while the loop was blocked are all read in one turn, before the next
  // group commit; beyond max_concurrent_requests of them must be refused with UNAVAILABLE+RetryInfo.
  it('refuses requests beyond max_concurrent_requests with UNAVAILABLE and RetryInfo', async () => {
    runledger = await startRunledger({
      config: {
        storage: { sqlite: { busy_timeout_ms: 3000 } },
        receiver: { otlp_grpc: { max_concurrent_requests: 1, retry_delay_ms: 250 } },
      },
    });
    client = new RawOtlpClient(runledger.grpcPort);
    // Open the HTTP/2 connection first, so the burst below is not held back by connection setup.
    expect((await client.export(Buffer.alloc(0))).code).toBe(grpc.status.OK);

    lock = holdWriteLock(runledger.dbPath);
    const requests = [workflowRequest('overload-0', 1)];
    const outcomes = [client.export(requests[0]!.body)];
    await sleep(200); // the server is now blocked inside its commit, waiting for the lock
    for (let i = 1; i <= 6; i++) {
      requests.push(workflowRequest(`overload-${i}`, 2));
      outcomes.push(client.export(requests[i]!.body));
    }
    await sleep(200);
    lock.release();
    lock = undefined;

    const settled: ExportOutcome[] = await Promise.all(outcomes);
    expect(settled[0]!.code).toBe(grpc.status.OK);
    const refused = settled.filter((o) => o.code !== grpc.status.OK);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeLessThan(settled.length);
    for (const o of refused) expectRetryableRefusal(o, 250, /too many requests/);

    // Acknowledged means stored; refused means not stored, and a retry is accepted.
    for (const [i, o] of settled.entries()) {
      const prefix = `overload-${i}`;
      const ids = [...requests[i]!.spanIds].sort();
      expect(storedIds(runledger.dbPath, prefix)).toEqual(o.code === grpc.status.OK ? ids : []);
      if (o.code !== grpc.status.OK) {
        expect((await client.export(requests[i]!.body)).code).toBe(grpc.status.OK);
        expect(storedIds(runledger.dbPath, prefix)).toEqual(ids);
      }
    }
  });
});
