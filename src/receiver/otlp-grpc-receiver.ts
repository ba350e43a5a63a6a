import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RunledgerError } from '../errors.js';
import { decodeIntakeRequest, spanProblem, type IntakeRequest } from '../otlp/intake-request.js';
import type { KeySelector } from '../otlp/key-selector.js';
import { encodeExportResponse } from '../otlp/responses.js';
import { TRACE_SERVICE_EXPORT_PATH } from '../otlp/proto.js';
import type { BatchSpan } from '../pipeline/span-batch.js';
import type { Component } from '../pipeline/component.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import { countRedactions, type Metrics } from '../telemetry/metrics.js';
import type { ReceiverConfig } from './config.js';
import { toGrpcError } from './grpc-status.js';
import { createServerCredentials } from './credentials.js';
import { BearerTokenCheck } from '../auth/bearer-token.js';
import { redactIntakeRequest } from '../redaction/redact-intake.js';
import type { Redactor } from '../redaction/redactor.js';

const passThrough = (b: Buffer): Buffer => b;

/** TraceService/Export with raw bytes, so decoding errors are ours to report as INVALID_ARGUMENT. */
const TRACE_SERVICE: grpc.ServiceDefinition = {
  Export: {
    path: TRACE_SERVICE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};

/** At most this many distinct problems are quoted in partial_success.error_message. */
const MAX_QUOTED_PROBLEMS = 3;

export interface OtlpGrpcReceiverDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Erases secrets before any stage sees the request (DESIGN §7); absent in tests of the receiver alone. */
  readonly redactor?: Redactor;
  /** The span attributes later stages read; the rest stay encoded (default: all are decoded). */
  readonly spanAttributes?: KeySelector;
}

export class OtlpGrpcReceiver implements Component {
  private server: grpc.Server | undefined;
  private inFlight = 0;
  private stopping = false;
  private boundPort = 0;
  private readonly auth: BearerTokenCheck | undefined;

  constructor(
    private readonly config: ReceiverConfig['otlp_grpc'],
    private readonly next: SpanSink,
    private readonly deps: OtlpGrpcReceiverDeps,
  ) {
    this.auth = config.auth === undefined ? undefined : new BearerTokenCheck(config.auth.bearer_token_file);
  }

  /** The port actually bound (useful when the endpoint asked for port 0). */
  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server !== undefined && !this.stopping;
  }

  async start(): Promise<void> {
    const server = new grpc.Server({
      // grpc-js checks this limit on the decompressed message and answers RESOURCE_EXHAUSTED.
      'grpc.max_receive_message_length': Math.floor(this.config.max_recv_msg_size_mib * 1024 * 1024),
    });
    server.addService(TRACE_SERVICE, { Export: this.handleExport });
    this.boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        this.config.endpoint,
        createServerCredentials(this.config.tls),
        (err, port) => (err ? reject(err) : resolve(port)),
      );
    });
    this.server = server;
    this.deps.logger.info(
      { endpoint: this.config.endpoint, port: this.boundPort, tls: this.config.tls === undefined ? 'off' : this.config.tls.client_ca_file ? 'mtls' : 'tls', auth: this.auth ? 'bearer' : 'none' },
      'OTLP/gRPC receiver listening',
    );
  }

  /** Stops accepting calls and waits for those in flight to be answered. */
  async shutdown(): Promise<void> {
    const server = this.server;
    if (server === undefined || this.stopping) return;
    this.stopping = true;
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    this.server = undefined;
    this.deps.logger.info('OTLP/gRPC receiver stopped');
  }

  private readonly handleExport: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const started = process.hrtime.bigint();
    const { metrics } = this.deps;
    const answer = (result: 'success' | 'partial' | 'refused', error: Partial<grpc.StatusObject> | null, body?: Buffer) => {
      metrics.ingestDuration.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
      callback(error, body);
    };

    if (this.auth !== undefined && !this.auth.accepts(call.metadata.get('authorization')[0]?.toString())) {
      metrics.requestsUnauthenticated.inc();
      answer('refused', toGrpcError(new RunledgerError('UNAUTHENTICATED', 'missing or invalid bearer token'), 0));
      return;
    }
    // No stopping check: once shutdown begins grpc-js accepts no new calls, so a call that reaches
    // here was already arriving and is finished like any other in flight.
    if (this.inFlight >= this.config.max_concurrent_requests) {
      const err = new RunledgerError('OVERLOADED', 'too many requests in flight; retry later', { retryable: true });
      answer('refused', toGrpcError(err, this.config.retry_delay_ms));
      return;
    }

    let request: IntakeRequest;
    try {
      request = decodeIntakeRequest(call.request, this.deps.spanAttributes);
      if (this.deps.redactor !== undefined) {
        const redacted = redactIntakeRequest(request, this.deps.redactor);
        request = redacted.request;
        countRedactions(metrics, redacted.counts);
      }
    } catch (err) {
      const message = `cannot decode ExportTraceServiceRequest: ${(err as Error).message}`;
      answer('refused', toGrpcError(new RunledgerError('REQUEST_MALFORMED', message, { cause: err }), 0));
      return;
    }
    metrics.spansReceived.inc(request.spanCount);

    const receivedNs = BigInt(Date.now()) * 1_000_000n;
    const spans: BatchSpan[] = [];
    const problems = new Set<string>();
    let rejected = 0;
    for (const resource of request.resources) {
      for (const scope of resource.scopes) {
        for (const span of scope.spans) {
          const problem = spanProblem(span);
          if (problem === undefined) {
            spans.push({ span, resource, scope, runKey: null, identity: false });
          } else {
            rejected++;
            problems.add(problem);
          }
        }
      }
    }
    if (rejected > 0) metrics.spansRejected.inc({ reason: 'invalid_span' }, rejected);
    const errorMessage =
      rejected === 0 ? '' : `${rejected} span(s) rejected: ${[...problems].slice(0, MAX_QUOTED_PROBLEMS).join('; ')}`;

    this.inFlight++;
    let consumed: Promise<void>;
    try {
      consumed = this.next.consume({ spans, receivedNs, claims: [] });
    } catch (err) {
      // A stage that throws instead of rejecting must not keep its slot forever.
      consumed = Promise.reject(err);
    }
    consumed.then(
      () => {
        this.inFlight--;
        answer(rejected > 0 ? 'partial' : 'success', null, encodeExportResponse(rejected, errorMessage));
      },
      (err: unknown) => {
        this.inFlight--;
        if (spans.length > 0) metrics.spansRejected.inc({ reason: 'storage_unavailable' }, spans.length);
        answer('refused', toGrpcError(err, this.config.retry_delay_ms));
      },
    );
  };
}
