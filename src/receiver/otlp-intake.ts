import type { Logger } from 'pino';
import { BearerTokenCheck } from '../auth/bearer-token.js';
import { isRunledgerError, RunledgerError } from '../errors.js';
import { decodeIntakeRequest, spanProblem, type IntakeRequest } from '../otlp/intake-request.js';
import { otlpJsonToProtobuf } from '../otlp/json-request.js';
import type { KeySelector } from '../otlp/key-selector.js';
import type { OtlpEncoding } from '../otlp/responses.js';
import type { BatchSpan } from '../pipeline/span-batch.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import { redactIntakeRequest } from '../redaction/redact-intake.js';
import type { Redactor } from '../redaction/redactor.js';
import { countRedactions, type Metrics, type Transport } from '../telemetry/metrics.js';
import type { OtlpTransportConfig } from './config.js';

/** At most this many distinct problems are quoted in partial_success.error_message. */
const MAX_QUOTED_PROBLEMS = 3;

export interface OtlpIntakeDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Erases secrets before any stage sees the request (DESIGN §7); absent in tests of a receiver alone. */
  readonly redactor?: Redactor;
  /** The span attributes later stages read; the rest stay encoded (default: all are decoded). */
  readonly spanAttributes?: KeySelector;
}

/** One Export request as a transport received it. */
export interface ExportCall {
  /** The `authorization` header or metadata value, if any. */
  readonly authorization: string | undefined;
  readonly encoding: OtlpEncoding;
  /** The request body, decompressed; throws a RunledgerError when it cannot be read (too large, corrupt gzip). */
  readonly body: () => Uint8Array | Promise<Uint8Array>;
}

/** What a transport answers: success (with partial_success when spans were rejected) or a failure to map. */
export type ExportResult =
  | { readonly status: 'success'; readonly rejectedSpans: number; readonly errorMessage: string }
  | { readonly status: 'failure'; readonly error: unknown };

/**
 * The one decode-and-intake path of both OTLP transports (DESIGN §8): authenticate → admit (at most
 * `max_concurrent_requests` in flight) → read the body → decode (JSON becomes the protobuf encoding
 * first) → redact → reject invalid spans one by one → hand the rest downstream, and resolve only once
 * downstream has committed them. Each transport maps the ExportResult to its own wire answer.
 */
export class OtlpIntake {
  private inFlight = 0;
  private readonly auth: BearerTokenCheck | undefined;

  constructor(
    private readonly config: Pick<OtlpTransportConfig, 'max_concurrent_requests' | 'auth'>,
    private readonly next: SpanSink,
    private readonly transport: Transport,
    private readonly deps: OtlpIntakeDeps,
  ) {
    this.auth = config.auth === undefined ? undefined : new BearerTokenCheck(config.auth.bearer_token_file);
  }

  get authMode(): 'bearer' | 'none' {
    return this.auth === undefined ? 'none' : 'bearer';
  }

  async export(call: ExportCall): Promise<ExportResult> {
    const started = process.hrtime.bigint();
    const result = await this.admit(call);
    const outcome = result.status === 'failure' ? 'refused' : result.rejectedSpans > 0 ? 'partial' : 'success';
    this.deps.metrics.ingestDuration.observe(
      { result: outcome, transport: this.transport },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    return result;
  }

  private async admit(call: ExportCall): Promise<ExportResult> {
    if (this.auth !== undefined && !this.auth.accepts(call.authorization)) {
      this.deps.metrics.requestsUnauthenticated.inc({ transport: this.transport });
      return failure(new RunledgerError('UNAUTHENTICATED', 'missing or invalid bearer token'));
    }
    // Counted from before the body is read: over HTTP that bounds the request bodies held in memory.
    if (this.inFlight >= this.config.max_concurrent_requests) {
      return failure(new RunledgerError('OVERLOADED', 'too many requests in flight; retry later', { retryable: true }));
    }
    this.inFlight++;
    try {
      return await this.intake(call);
    } finally {
      this.inFlight--;
    }
  }

  private async intake(call: ExportCall): Promise<ExportResult> {
    const { metrics } = this.deps;
    const transport = this.transport;
    let request: IntakeRequest;
    try {
      request = this.decode(await call.body(), call.encoding);
    } catch (err) {
      if (isRunledgerError(err)) return failure(err);
      const message = `cannot decode ExportTraceServiceRequest: ${(err as Error).message}`;
      return failure(new RunledgerError('REQUEST_MALFORMED', message, { cause: err }));
    }
    metrics.spansReceived.inc({ transport }, request.spanCount);

    const receivedNs = BigInt(Date.now()) * 1_000_000n;
    const spans: BatchSpan[] = [];
    const problems = new Set<string>();
    let rejected = 0;
    for (const resource of request.resources) {
      for (const scope of resource.scopes) {
        for (const span of scope.spans) {
          const problem = spanProblem(span);
          if (problem === undefined) {
            spans.push({ span, resource, scope, runKey: null, rootCandidate: false });
          } else {
            rejected++;
            problems.add(problem);
          }
        }
      }
    }
    if (rejected > 0) metrics.spansRejected.inc({ reason: 'invalid_span', transport }, rejected);
    const errorMessage =
      rejected === 0 ? '' : `${rejected} span(s) rejected: ${[...problems].slice(0, MAX_QUOTED_PROBLEMS).join('; ')}`;

    // Only the count outlives the await: the decoded spans stay unreachable from here while the commit
    // is awaited, so they die young instead of being promoted to the old generation.
    const accepted = spans.length;
    try {
      // Inside the try: a stage that throws instead of rejecting is a failure like any other.
      await this.next.consume({ spans, receivedNs, claims: [] });
    } catch (err) {
      if (accepted > 0) metrics.spansRejected.inc({ reason: 'storage_unavailable', transport }, accepted);
      return failure(err);
    }
    return { status: 'success', rejectedSpans: rejected, errorMessage };
  }

  private decode(body: Uint8Array, encoding: OtlpEncoding): IntakeRequest {
    const request = decodeIntakeRequest(encoding === 'json' ? otlpJsonToProtobuf(body) : body, this.deps.spanAttributes);
    if (this.deps.redactor === undefined) return request;
    const redacted = redactIntakeRequest(request, this.deps.redactor);
    countRedactions(this.deps.metrics, redacted.counts);
    return redacted.request;
  }
}

const failure = (error: unknown): ExportResult => ({ status: 'failure', error });
