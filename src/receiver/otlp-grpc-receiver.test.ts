import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RunledgerError } from '../errors.js';
import {
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
  RETRY_INFO_TYPE_URL,
  RetryInfo,
  RpcStatus,
  TRACE_SERVICE_EXPORT_PATH,
} from '../otlp/proto.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import { createMetrics } from '../telemetry/metrics.js';
import { receiverConfigSchema, type ReceiverConfig } from './config.js';
import { OtlpGrpcReceiver } from './otlp-grpc-receiver.js';
import { FailingSink, GatedSink, RecordingSink } from '../../test/support/sinks.js';

const logger = pino({ level: 'silent' });



interface Outcome {
  code: grpc.status;
  details: string;
  response?: Buffer;
  /** The retry delays (ms) of google.rpc.RetryInfo details in grpc-status-details-bin. */
  retryDelaysMs: number[];
  statusDetailsCode?: number;
}

const passThrough = (b: Buffer): Buffer => b;

// Regression guard (fixed bug in src/otlp/responses.ts encodeStatus): the RetryInfo detail is built with `typeUrl`, but
// protobufjs's bundled google.protobuf.Any names the field `type_url`, so the detail goes out with
// an empty type URL and clients cannot recognise it. The two RetryInfo assertions below fail until
// it is encoded as `type_url` (they check the URL as a client would).

/** A raw grpc-js client: the request bytes are ours, and we see the status and trailers as sent. */
function exportRaw(client: grpc.Client, body: Uint8Array): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      TRACE_SERVICE_EXPORT_PATH,
      passThrough,
      passThrough,
      Buffer.from(body),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, value) => {
        if (err === null) {
          resolve({ code: grpc.status.OK, details: '', response: value ?? Buffer.alloc(0), retryDelaysMs: [] });
          return;
        }
        const bin = err.metadata?.get('grpc-status-details-bin')[0];
        const status = Buffer.isBuffer(bin) ? decodeStatusDetails(bin) : undefined;
        resolve({
          code: err.code,
          details: err.details,
          retryDelaysMs: status?.retryDelaysMs ?? [],
          statusDetailsCode: status?.code,
        });
      },
    );
  });
}

function decodeStatusDetails(bytes: Buffer): { code: number; retryDelaysMs: number[] } {
  const status = RpcStatus.decode(bytes) as unknown as {
    code: number;
    // protobufjs serves google/protobuf/any.proto from its bundled copy, which keeps `type_url`.
    details: Array<{ type_url?: string; typeUrl?: string; value: Uint8Array }>;
  };
  const retryDelaysMs = status.details
    .filter((d) => (d.type_url ?? d.typeUrl) === RETRY_INFO_TYPE_URL)
    .map((d) => {
      const info = RetryInfo.decode(d.value) as unknown as {
        retryDelay: { seconds: { toNumber(): number } | number; nanos: number };
      };
      const seconds = info.retryDelay.seconds;
      return (typeof seconds === 'number' ? seconds : seconds.toNumber()) * 1000 + info.retryDelay.nanos / 1e6;
    });
  return { code: status.code, retryDelaysMs };
}

let nextSpanId = 1;

function span(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: Buffer.alloc(16, 0xab),
    spanId: Buffer.from((nextSpanId++).toString(16).padStart(16, '0'), 'hex'),
    name: 'deploy',
    startTimeUnixNano: '1764000000000000000',
    endTimeUnixNano: '1764000001000000000',
    attributes: [{ key: 'nhi.workflow.run.id', value: { stringValue: 'run-1' } }],
    ...overrides,
  };
}

function request(...spans: Array<Record<string, unknown>>): Uint8Array {
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeSpans: [{ spans }] }],
  });
  return ExportTraceServiceRequest.encode(message).finish();
}

function decodeResponse(body: Buffer): { partialSuccess?: { rejectedSpans: { toNumber(): number }; errorMessage: string } } {
  return ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(body)) as ReturnType<typeof decodeResponse>;
}

const receivers: OtlpGrpcReceiver[] = [];
const clients: grpc.Client[] = [];
const gates: GatedSink[] = [];

afterEach(async () => {
  for (const gate of gates.splice(0)) gate.release();
  for (const client of clients.splice(0)) client.close();
  await Promise.all(receivers.splice(0).map((r) => r.shutdown()));
});

function config(overrides: Partial<ReceiverConfig['otlp_grpc']> = {}): ReceiverConfig['otlp_grpc'] {
  return receiverConfigSchema.parse({ otlp_grpc: { endpoint: '127.0.0.1:0', ...overrides } }).otlp_grpc;
}

async function startReceiver(sink: SpanSink, overrides: Partial<ReceiverConfig['otlp_grpc']> = {}) {
  const metrics = createMetrics();
  const receiver = new OtlpGrpcReceiver(config(overrides), sink, { logger, metrics });
  receivers.push(receiver);
  await receiver.start();
  const client = new grpc.Client(`127.0.0.1:${receiver.port}`, grpc.credentials.createInsecure());
  clients.push(client);
  return { receiver, client, metrics };
}

function gatedSink(): GatedSink {
  const gate = new GatedSink();
  gates.push(gate);
  return gate;
}

describe('OtlpGrpcReceiver', () => {
  it('can be shut down before it was started', async () => {
    const receiver = new OtlpGrpcReceiver(config(), new RecordingSink(), { logger, metrics: createMetrics() });

    await expect(receiver.shutdown()).resolves.toBeUndefined();
    expect(receiver.listening).toBe(false);
  });

  it('can be shut down twice', async () => {
    const { receiver } = await startReceiver(new RecordingSink());
    expect(receiver.listening).toBe(true);
    expect(receiver.port).toBeGreaterThan(0);

    await receiver.shutdown();
    await receiver.shutdown();

    expect(receiver.listening).toBe(false);
  });

  it('can be shut down twice at once', async () => {
    const { receiver } = await startReceiver(new RecordingSink());

    await expect(Promise.all([receiver.shutdown(), receiver.shutdown()])).resolves.toEqual([undefined, undefined]);
  });

  it('answers success with no partial_success once the sink resolved, passing the spans on', async () => {
    const sink = new RecordingSink();
    const { client } = await startReceiver(sink);

    const outcome = await exportRaw(client, request(span({ name: 'a' }), span({ name: 'b' })));

    expect(outcome.code).toBe(grpc.status.OK);
    expect(decodeResponse(outcome.response!).partialSuccess).toBeUndefined();
    expect(sink.batches).toHaveLength(1);
    const batch = sink.batches[0]!;
    expect(batch.spans.map((s) => s.span.name)).toEqual(['a', 'b']);
    expect(batch.spans.every((s) => s.runKey === null && !s.rootCandidate)).toBe(true);
    expect(batch.claims).toEqual([]);
    expect(batch.receivedNs).toBeGreaterThan(0n);
  });

  it('answers an empty request with success', async () => {
    const { client } = await startReceiver(new RecordingSink());

    const outcome = await exportRaw(client, new Uint8Array(0));

    expect(outcome.code).toBe(grpc.status.OK);
  });

  it('rejects invalid spans one by one with partial_success and passes the valid ones on', async () => {
    const sink = new RecordingSink();
    const { client, metrics } = await startReceiver(sink);

    const outcome = await exportRaw(
      client,
      request(span({ name: 'good' }), span({ traceId: Buffer.alloc(8, 1) }), span({ spanId: Buffer.alloc(8) })),
    );

    expect(outcome.code).toBe(grpc.status.OK);
    const partial = decodeResponse(outcome.response!).partialSuccess!;
    expect(partial.rejectedSpans.toNumber()).toBe(2);
    expect(partial.errorMessage).toBe('2 span(s) rejected: trace_id must be 16 bytes, got 8; span_id must not be all zero');
    expect(sink.batches[0]!.spans.map((s) => s.span.name)).toEqual(['good']);
    expect((await metrics.spansReceived.get()).values[0]!.value).toBe(3);
    expect((await metrics.spansRejected.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'invalid_span', transport: 'grpc' }, value: 2 }),
    ]);
  });

  it('answers INVALID_ARGUMENT without RetryInfo to bytes that are not a request', async () => {
    const sink = new RecordingSink();
    const { client } = await startReceiver(sink);

    const outcome = await exportRaw(client, Buffer.from('garbage bytes here!!'));

    expect(outcome.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(outcome.details).toMatch(/^cannot decode ExportTraceServiceRequest: /);
    expect(outcome.retryDelaysMs).toEqual([]);
    expect(sink.batches).toHaveLength(0);
  });

  it('answers UNAVAILABLE with RetryInfo of retry_delay_ms when the sink is retryably unavailable', async () => {
    const failure = new RunledgerError('STORAGE_UNAVAILABLE', 'storage is unavailable; retry later', { retryable: true });
    const { client, metrics } = await startReceiver(new FailingSink(failure), { retry_delay_ms: 1500 });

    const outcome = await exportRaw(client, request(span()));

    expect(outcome.code).toBe(grpc.status.UNAVAILABLE);
    expect(outcome.details).toBe('storage is unavailable; retry later');
    expect(outcome.statusDetailsCode).toBe(grpc.status.UNAVAILABLE);
    expect((await metrics.spansRejected.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'storage_unavailable', transport: 'grpc' }, value: 1 }),
    ]);
    expect(outcome.retryDelaysMs).toEqual([1500]);
  });

  it('answers INTERNAL without the error message when the sink fails unexpectedly', async () => {
    const { client } = await startReceiver(new FailingSink(new Error('secret token abc123 in /etc/runledger')));

    const outcome = await exportRaw(client, request(span()));

    expect(outcome.code).toBe(grpc.status.INTERNAL);
    expect(outcome.details).toBe('internal error');
    expect(outcome.details).not.toContain('abc123');
    expect(outcome.retryDelaysMs).toEqual([]);
  });

  it('answers a non-retryable runledger error without RetryInfo', async () => {
    const failure = new RunledgerError('REQUEST_TOO_LARGE', 'too large');
    const { client } = await startReceiver(new FailingSink(failure));

    const outcome = await exportRaw(client, request(span()));

    expect(outcome.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(outcome.retryDelaysMs).toEqual([]);
  });

  it('refuses a request beyond max_concurrent_requests with UNAVAILABLE and RetryInfo', async () => {
    const sink = gatedSink();
    const { client } = await startReceiver(sink, { max_concurrent_requests: 1, retry_delay_ms: 250 });
    const first = exportRaw(client, request(span()));
    await vi.waitFor(() => expect(sink.batches).toHaveLength(1));

    const second = await exportRaw(client, request(span()));

    expect(second.code).toBe(grpc.status.UNAVAILABLE);
    expect(second.details).toBe('too many requests in flight; retry later');
    expect(sink.batches).toHaveLength(1);

    sink.release();
    expect((await first).code).toBe(grpc.status.OK);
    // The slot is free again.
    const third = exportRaw(client, request(span()));
    await vi.waitFor(() => expect(sink.batches).toHaveLength(2));
    sink.release();
    expect((await third).code).toBe(grpc.status.OK);
    expect(second.retryDelaysMs).toEqual([250]);
  });

  // Regression guard (fixed bug in src/receiver/otlp-grpc-receiver.ts handleExport): inFlight++ happens before
  // this.next.consume(); a sink that throws instead of returning a rejected promise leaves the
  // counter raised forever, so with max_concurrent_requests: 1 every later call is refused.
  it('frees the request slot when the sink throws instead of rejecting', async () => {
    let calls = 0;
    const throwsOnce: SpanSink = {
      consume: () => {
        calls++;
        if (calls === 1) throw new Error('bug in a stage');
        return Promise.resolve();
      },
    };
    const { client } = await startReceiver(throwsOnce, { max_concurrent_requests: 1 });

    const first = await exportRaw(client, request(span()));
    const second = await exportRaw(client, request(span()));

    expect(second.code).toBe(grpc.status.OK);
    expect(first.code).toBe(grpc.status.INTERNAL);
    expect(first.details).toBe('internal error');
  });

  it('refuses new calls once shutdown began, and answers the call in flight', async () => {
    const sink = gatedSink();
    const { receiver, client } = await startReceiver(sink);
    const inFlight = exportRaw(client, request(span()));
    await vi.waitFor(() => expect(sink.batches).toHaveLength(1));

    const stopped = receiver.shutdown();
    expect(receiver.listening).toBe(false);
    const late = await exportRaw(client, request(span()));

    expect(late.code).toBe(grpc.status.UNAVAILABLE);
    expect(sink.batches).toHaveLength(1);

    sink.release();
    expect((await inFlight).code).toBe(grpc.status.OK);
    await stopped;
  });
});
