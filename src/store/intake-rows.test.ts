import { MessageChannel, markAsUntransferable, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { IntakeResource, IntakeScope, IntakeSpan } from '../otlp/intake-request.js';
import { isRootCandidate } from '../runs/root.js';
import type { BatchSpan } from '../pipeline/span-batch.js';
import { bodyOf, toIntakeRows, transferables } from './intake-rows.js';

const resource: IntakeResource = { body: Buffer.from('resource'), attributes: {}, schemaUrl: '', scopes: [] };
const scope: IntakeScope = { body: Buffer.from('scope'), schemaUrl: '', spans: [] };

function batchSpan(body: Uint8Array, id: string): BatchSpan {
  const span: IntakeSpan = {
    traceId: 'aa'.repeat(16),
    spanId: id.padStart(16, '0'),
    parentSpanId: '',
    name: id,
    kind: 1,
    startNs: 1n,
    endNs: 2n,
    statusCode: 0,
    statusMessage: '',
    attributes: {},
    body,
  };
  return { span, resource, scope, runKey: 'run-1', rootCandidate: isRootCandidate(span, true) };
}

describe('toIntakeRows', () => {
  it('refers to span bodies where they are — the request buffer, or a span of their own — without copying', () => {
    const request = new Uint8Array(64).map((_, i) => i);
    const rewritten = Uint8Array.of(200, 201, 202); // as redaction re-encodes a span into a new buffer
    const spans = [batchSpan(request.subarray(10, 20), '1'), batchSpan(rewritten, '2'), batchSpan(request.subarray(30, 34), '3')];

    const rows = toIntakeRows({ spans, receivedNs: 1n, claims: [] });

    expect(rows.buffers).toEqual([request.buffer, rewritten.buffer]);
    expect(rows.buffers[0]).toBe(request.buffer);
    expect([0, 1, 2].map((i) => [...bodyOf(rows, i)])).toEqual([[...request.subarray(10, 20)], [200, 201, 202], [30, 31, 32, 33]]);
    expect(transferables(rows)).toContain(request.buffer);
  });

  it('copies resource and scope bodies, which stay readable after the request buffer is moved', () => {
    const rows = toIntakeRows({ spans: [batchSpan(Uint8Array.of(1), '1')], receivedNs: 1n, claims: [] });

    expect(rows.resources[0]!.body).not.toBe(resource.body);
    expect(Buffer.from(rows.resources[0]!.body).toString()).toBe('resource');
    expect(transferables(rows)).not.toContain(resource.body.buffer);
  });

  it('crosses to another thread with a body in a buffer Node will not move (its pool for small Buffers)', () => {
    const pooled = new ArrayBuffer(32);
    markAsUntransferable(pooled);
    const body = new Uint8Array(pooled, 4, 3).fill(7);
    const rows = toIntakeRows({ spans: [batchSpan(body, '1')], receivedNs: 1n, claims: [] });
    const { port1, port2 } = new MessageChannel();

    port1.postMessage(rows, transferables(rows)); // Node 22 throws if an untransferable buffer is listed

    const received = receiveMessageOnPort(port2)!.message as typeof rows;
    expect([...bodyOf(received, 0)]).toEqual([7, 7, 7]);
    expect(body.byteLength).toBe(3); // still the sender's, not detached
    port1.close();
  });
});
