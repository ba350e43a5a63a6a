import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { metricValue } from '../support/metrics.js';
import { encodeExportRequest, newSpanId, newTraceId, type SpanSpec } from '../support/otlp-request.js';
import { grpcFrame, http2Export, RawOtlpClient, type ExportOutcome } from '../support/raw-otlp-client.js';
import { startRunledger, waitForLog, type RunledgerProcess } from '../support/runledger-process.js';
import { holdWriteLock } from '../support/store-lock.js';
import { readDb, spansNamedLike, storedSpanIds } from '../support/stored-spans.js';
import { PATIENCE_MS } from '../support/patience.js';

function request(prefix: string, count: number): { body: Buffer; spanIds: string[] } {
  const traceId = newTraceId();
  const spans: SpanSpec[] = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`,
    traceId,
    spanId: newSpanId(),
    attributes: { 'nhi.workflow.run.id': `${prefix}-run`, 'nhi.change.target': `account-${i}` },
  }));
  return { body: encodeExportRequest([{ spans }]), spanIds: spans.map((s) => s.spanId!.toString('hex')) };
}

describe('runledger process lifecycle', () => {
  const processes: RunledgerProcess[] = [];
  const clients: RawOtlpClient[] = [];
  const start = async (options: Parameters<typeof startRunledger>[0] = {}) => {
    const p = await startRunledger({ ...options, config: { runs: { settle_ms: 50 }, ...options.config } });
    processes.push(p);
    return p;
  };
  const connect = (p: RunledgerProcess) => {
    const c = new RawOtlpClient(p.grpcPort);
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    const stopped = processes.splice(0);
    await Promise.all(stopped.map((p) => p.stop('SIGKILL')));
    for (const p of stopped) rmSync(p.dir, { recursive: true, force: true });
  });

  it('answers /healthz and /readyz once started', async () => {
    const p = await start();
    const health = await fetch(`${p.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${p.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it.skipIf(process.platform !== 'linux')('judges runs at a lower CPU priority than it answers OTLP requests', async () => {
    const p = await start();
    const pid = p.child.pid!;
    // Field 19 of /proc/PID/task/TID/stat, counted after the command name (which may hold spaces).
    const niceOf = (tid: string) => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    const nice = new Map(readdirSync(`/proc/${pid}/task`).map((tid) => [tid, niceOf(tid)]));
    expect(nice.get(String(pid))).toBe(0);
    // Only the run history worker is niced (history-worker.ts); the intake writer is not.
    expect([...nice.values()].filter((n) => n === 10)).toHaveLength(1);
  });

  it('exits 0 on SIGTERM after closing the store cleanly', async () => {
    const p = await start();
    const { body, spanIds } = request('sigterm', 5);
    expect((await connect(p).export(body)).code).toBe(grpc.status.OK);

    expect(await p.stop('SIGTERM')).toBe(0);
    const messages = p.logs.map((l) => l.msg);
    expect(messages).toContain('shutting down');
    expect(messages).toContain('store closed');
    expect(messages.indexOf('store closed')).toBeGreaterThan(messages.indexOf('shutting down'));
    // A clean close checkpoints the WAL into the database file and removes it.
    expect(existsSync(`${p.dbPath}-wal`)).toBe(false);
    expect(readDb(p.dbPath, (db) => db.pragma('integrity_check', { simple: true }))).toBe('ok');
    expect(spansNamedLike(p.dbPath, 'sigterm-%').map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
  });

  // The export must be in flight when SIGTERM is delivered. A second connection holds SQLite's write
  // lock, so the server's commit of that export waits (busy_timeout_ms); the signal is sent during
  // the wait and the lock released after it. Shutdown must answer the export, not drop it.
  it('answers an export in flight at SIGTERM with success and keeps its spans', async () => {
    const p = await start({ config: { storage: { sqlite: { busy_timeout_ms: 5000 } } } });
    const client = connect(p);
    expect((await client.export(Buffer.alloc(0))).code).toBe(grpc.status.OK);
    const { body, spanIds } = request('in-flight', 20);

    const lock = new BetterSqlite3(p.dbPath);
    let outcome: Promise<ExportOutcome>;
    try {
      lock.exec('BEGIN IMMEDIATE');
      outcome = client.export(body);
      await sleep(200);
      p.child.kill('SIGTERM');
      await sleep(200);
      expect(p.child.exitCode).toBeNull(); // still answering the export
    } finally {
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
    }

    const answered = await outcome;
    expect(answered).toMatchObject({ code: grpc.status.OK });
    expect(await p.stop()).toBe(0);
    expect(p.logs.map((l) => l.msg)).toContain('store closed');
    expect(spansNamedLike(p.dbPath, 'in-flight-%').map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
  });

  it('answers an OTLP/HTTP export in flight at SIGTERM with 200 and keeps its spans', async () => {
    // A long busy timeout: the export waits on the lock for as long as the test holds it.
    const p = await start({ config: { storage: { sqlite: { busy_timeout_ms: 60_000 } } } });
    const { body, spanIds } = request('http-in-flight', 20);
    const lock = holdWriteLock(p.dbPath);
    let answer: Promise<Response>;
    try {
      answer = fetch(p.otlpHttpUrl, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      // Decoded and counted: the export is now waiting for its commit.
      await vi.waitFor(async () => expect(await metricValue(p.httpUrl, 'runledger_spans_received_total', { transport: 'http' })).toBe(20), {
        timeout: 15_000,
        interval: 25,
      });
      p.child.kill('SIGTERM');
      await waitForLog(p, (l) => l.msg === 'OTLP/HTTP receiver stopped' || l.msg === 'shutting down');
      expect(p.child.exitCode).toBeNull(); // still answering the export
    } finally {
      lock.release();
    }

    expect((await answer).status).toBe(200);
    expect(await p.stop()).toBe(0);
    expect(p.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['OTLP/HTTP receiver stopped', 'store closed']));
    expect(spansNamedLike(p.dbPath, 'http-in-flight-%').map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
  });

  // DESIGN §8: a call whose stream was open at SIGTERM is in flight and is finished, not refused.
  it('finishes an export whose request was still arriving at SIGTERM', async () => {
    const p = await start();
    const { body, spanIds } = request('arriving', 10);
    const frame = grpcFrame(body, false);
    const outcome = await http2Export(p.grpcPort, frame, 'identity', {
      pauseAfterBytes: 10,
      whilePaused: async () => {
        await sleep(150);
        p.child.kill('SIGTERM');
        await sleep(200);
      },
    });
    expect(outcome).toMatchObject({ code: grpc.status.OK });
    expect(await p.stop()).toBe(0);
    expect(spansNamedLike(p.dbPath, 'arriving-%').map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
  });

  it('keeps every acknowledged span across SIGKILL under load, and serves again on the same store', async () => {
    const p = await start({ config: { storage: { sqlite: { synchronous: 'full' } } } });
    const client = connect(p);
    const acknowledged: string[][] = [];
    let sent = 0;
    let failed = 0;
    let killed = false;

    // Eight senders in parallel, each sending requests of 100 spans back to back until the kill.
    const sender = async () => {
      while (!killed) {
        const { body, spanIds } = request(`load-${sent++}`, 100);
        const outcome = await client.export(body, 5_000);
        if (outcome.code === grpc.status.OK) acknowledged.push(spanIds);
        else failed++;
      }
    };
    const senders = Array.from({ length: 8 }, () => sender());
    // Kill mid-load, once enough requests were acknowledged (the deadline only guards against a hang).
    const deadline = Date.now() + PATIENCE_MS;
    while (acknowledged.length < 30 && Date.now() < deadline) await sleep(5);
    killed = true;
    expect(await p.stop('SIGKILL')).toBe('SIGKILL');
    await Promise.all(senders);

    // Requests cut off by the kill fail; every one answered OK before it must be on disk.
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0); // some requests were in flight when the process died
    const stored = storedSpanIds(p.dbPath);
    const missing = acknowledged.flat().filter((id) => !stored.has(id));
    expect(missing).toEqual([]);

    const again = await start({ dir: p.dir });
    expect(again.dbPath).toBe(p.dbPath);
    expect((await fetch(`${again.httpUrl}/readyz`)).status).toBe(200);
    const after = request('after-restart', 3);
    expect((await connect(again).export(after.body)).code).toBe(grpc.status.OK);
    const storedAfter = storedSpanIds(again.dbPath);
    expect([...after.spanIds, ...acknowledged.flat()].filter((id) => !storedAfter.has(id))).toEqual([]);
    expect(await again.stop('SIGTERM')).toBe(0);
  });
});
