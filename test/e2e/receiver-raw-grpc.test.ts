import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeExportResponse,
  encodeExportRequest,
  newSpanId,
  newTraceId,
  toNumber,
  type SpanSpec,
  workflowRequest,
} from '../support/otlp-request.js';
import { ExportRequestView, Span } from '../../src/otlp/proto.js';
import { grpcFrame, http2Export, RawOtlpClient } from '../support/raw-otlp-client.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { spansNamedLike, storedSpanIds } from '../support/stored-spans.js';

const MIB = 1024 * 1024;


/** One span whose attribute is `bytes` long: the request grows past any limit while gzip keeps it tiny. */
function bloatedRequest(name: string, bytes: number): Buffer {
  return encodeExportRequest([{ spans: [{ name, attributes: { 'nhi.workflow.run.id': name, padding: 'a'.repeat(bytes) } }] }]);
}

// Malformed and hostile input, which no OpenTelemetry SDK would send, through a raw client (STYLE.md Tests).
describe('receiver with a raw gRPC client', () => {
  let runledger: RunledgerProcess;
  let client: RawOtlpClient;
  /** Span ids of every request answered OK in this file: all must still be stored at the end. */
  const acknowledged: string[] = [];

  beforeAll(async () => {
    runledger = await startRunledger({
      config: { receiver: { otlp_grpc: { max_recv_msg_size_mib: 1 } }, runs: { settle_ms: 50 } },
    });
    client = new RawOtlpClient(runledger.grpcPort);
  });

  afterAll(async () => {
    client?.close();
    await runledger?.stop();
    if (runledger) rmSync(runledger.dir, { recursive: true, force: true });
  });

  it('answers a valid request with success and no partial_success', async () => {
    const { body, spanIds } = workflowRequest('valid', 5);
    const outcome = await client.export(body);
    expect(outcome.code).toBe(grpc.status.OK);
    acknowledged.push(...spanIds);
    // OTLP: partial_success must not be set on full success; an empty message encodes to no bytes.
    expect(outcome.response).toHaveLength(0);
    expect(decodeExportResponse(outcome.response!).partialSuccess ?? undefined).toBeUndefined();
    const stored = spansNamedLike(runledger.dbPath, 'valid-%');
    expect(stored.map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
    expect(new Set(stored.map((s) => s.run_key))).toEqual(new Set(['valid-run']));
  });

  it('answers an empty request (no resource_spans) with success', async () => {
    const outcome = await client.export(Buffer.alloc(0));
    expect(outcome.code).toBe(grpc.status.OK);
    expect(decodeExportResponse(outcome.response!).partialSuccess ?? undefined).toBeUndefined();
    const noSpans = await client.export(encodeExportRequest([{ spans: [] }]));
    expect(noSpans.code).toBe(grpc.status.OK);
  });

  it.each([
    ['an end-group tag with no group', Buffer.from('this is not protobuf')],
    ['a length prefix past the end', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])],
    ['a span whose bytes are not a Span', Buffer.from([0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x0a, 0xff])],
  ])('answers INVALID_ARGUMENT with a message for %s', async (_what, garbage) => {
    const outcome = await client.export(garbage);
    expect(outcome.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(outcome.details).toMatch(/\S/);
    // Final, not retryable: no google.rpc.Status details (so no RetryInfo) at all.
    expect(outcome.statusDetails).toBeUndefined();
  });

  /** A request built from raw span bytes, with no resource or scope message (both are optional). */
  function bareRequest(name: string, extra: number[] = []): { body: Buffer; spanId: string } {
    const spanId = newSpanId();
    const span = Buffer.concat([
      Span.encode({
        traceId: newTraceId(),
        spanId,
        name,
        startTimeUnixNano: 1,
        endTimeUnixNano: 2,
        attributes: [{ key: 'nhi.workflow.run.id', value: { stringValue: `${name}-run` } }],
      }).finish(),
      Buffer.from(extra),
    ]);
    return { body: Buffer.from(ExportRequestView.encode({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] }).finish()), spanId: spanId.toString('hex') };
  }

  it('stores the spans of a request with no resource and no scope message', async () => {
    const { body, spanId } = bareRequest('bare');
    const outcome = await client.export(body);
    expect(outcome.code).toBe(grpc.status.OK);
    acknowledged.push(spanId);
    expect(spansNamedLike(runledger.dbPath, 'bare').map((s) => s.span_id)).toEqual([spanId]);
  });

  it('answers INVALID_ARGUMENT and stores nothing of a request whose span hides a malformed attribute', async () => {
    // Intake decodes a span's framing and only the attributes routing reads; redaction walks every
    // attribute and must refuse this one (a field of wire type 7) rather than store it unexamined.
    const { body } = bareRequest('hidden-garbage', [0x4a, 0x02, 0x1f, 0x00]);

    const outcome = await client.export(body);

    expect(outcome.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(outcome.details).toMatch(/cannot decode/);
    expect(outcome.statusDetails).toBeUndefined();
    expect(spansNamedLike(runledger.dbPath, 'hidden-garbage')).toEqual([]);
  });

  it('answers RESOURCE_EXHAUSTED without RetryInfo for a request over max_recv_msg_size_mib', async () => {
    const body = bloatedRequest('oversize', 2 * MIB);
    expect(body.length).toBeGreaterThan(2 * MIB);
    const outcome = await client.export(body);
    expect(outcome.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Not retryable (DESIGN §8): a RetryInfo would make exporters resend it forever.
    expect(outcome.statusDetails).toBeUndefined();
    expect(spansNamedLike(runledger.dbPath, 'oversize')).toEqual([]);
  });

  it('checks the size limit after decompression (a small gzip frame that inflates past it)', async () => {
    const compressed = gzipSync(bloatedRequest('gzip-bomb', 3 * MIB));
    const frame = grpcFrame(compressed, true);
    expect(frame.length).toBeLessThan(64 * 1024);
    const outcome = await http2Export(runledger.grpcPort, frame, 'gzip');
    expect(outcome.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(spansNamedLike(runledger.dbPath, 'gzip-bomb')).toEqual([]);
  });

  it('accepts a gzip frame under the limit sent over plain HTTP/2', async () => {
    const { body, spanIds } = workflowRequest('h2-gzip', 3);
    const outcome = await http2Export(runledger.grpcPort, grpcFrame(gzipSync(body), true), 'gzip');
    expect(outcome.code).toBe(grpc.status.OK);
    acknowledged.push(...spanIds);
    expect(spansNamedLike(runledger.dbPath, 'h2-gzip-%').map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
  });

  it('accepts gzip requests from a grpc-js client (grpc.default_compression_algorithm)', async () => {
    const gzipClient = new RawOtlpClient(runledger.grpcPort, { 'grpc.default_compression_algorithm': 2 });
    try {
      const { body, spanIds } = workflowRequest('grpc-gzip', 20);
      const outcome = await gzipClient.export(body);
      expect(outcome.code).toBe(grpc.status.OK);
      acknowledged.push(...spanIds);
      expect(spansNamedLike(runledger.dbPath, 'grpc-gzip-%').map((s) => s.span_id).sort()).toEqual([...spanIds].sort());
    } finally {
      gzipClient.close();
    }
  });

  it('rejects spans with invalid ids one by one with partial_success and stores the rest', async () => {
    const traceId = newTraceId();
    const now = BigInt(Date.now()) * 1_000_000n;
    const good: SpanSpec[] = [
      { name: 'ids-good-1', traceId, spanId: newSpanId(), attributes: { 'nhi.workflow.run.id': 'ids-run' } },
      { name: 'ids-good-2', traceId, spanId: newSpanId() },
      { name: 'ids-good-3', traceId: newTraceId(), spanId: newSpanId() },
    ];
    const bad: SpanSpec[] = [
      { name: 'ids-bad-short-trace', traceId: newSpanId(), spanId: newSpanId() },
      { name: 'ids-bad-zero-trace', traceId: Buffer.alloc(16), spanId: newSpanId() },
      { name: 'ids-bad-short-span', traceId, spanId: Buffer.from([1, 2, 3, 4]) },
      { name: 'ids-bad-end-before-start', traceId, spanId: newSpanId(), startNs: now, endNs: now - 1_000_000n },
    ];
    const body = encodeExportRequest([
      { spans: [good[0]!, bad[0]!, bad[1]!] },
      { attributes: { 'service.name': 'other' }, spans: [bad[2]!, good[1]!, bad[3]!, good[2]!] },
    ]);

    const outcome = await client.export(body);
    expect(outcome.code).toBe(grpc.status.OK);
    acknowledged.push(...good.map((s) => s.spanId!.toString('hex')));
    const partial = decodeExportResponse(outcome.response!).partialSuccess;
    expect(toNumber(partial?.rejectedSpans)).toBe(bad.length);
    expect(partial?.errorMessage).toMatch(/\S/);

    const stored = spansNamedLike(runledger.dbPath, 'ids-%');
    expect(stored.map((s) => s.name)).toEqual(['ids-good-1', 'ids-good-2', 'ids-good-3']);
    expect(stored.map((s) => s.run_key)).toEqual(['ids-run', 'ids-run', null]);
  });

  it('still holds every acknowledged span after malformed requests, and keeps serving', async () => {
    const { body, spanIds } = workflowRequest('after-malformed', 4);
    expect((await client.export(Buffer.from([0xff, 0xff, 0xff]))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await client.export(bloatedRequest('after-malformed-oversize', 2 * MIB))).code).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
    );
    const outcome = await client.export(body);
    expect(outcome.code).toBe(grpc.status.OK);
    acknowledged.push(...spanIds);

    expect(acknowledged.length).toBeGreaterThan(30);
    const stored = storedSpanIds(runledger.dbPath);
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
  });
});
