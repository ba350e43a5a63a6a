import type { Logger } from 'pino';
import { Lifecycle, type Component } from '../../pipeline/component.js';
import { ExportLogsServiceResponse, ExportTraceServiceResponse } from '../../otlp/proto.js';
import type { ForwardSpanRow, ForwardStore, ForwardStream, ForwardVerdictRow } from '../../store/forward-store.js';
import type { OtlpExporterConfig } from './config.js';
import type { ForwardSignal, OtlpExporter } from './otlp-exporter.js';
import type { SpanEnricher } from './span-enrichment.js';
import { encodeTraceRequest } from './trace-request.js';
import { encodeVerdictLogs } from './verdict-logs.js';

/** sent: accepted downstream; rejected: refused for good (not retried); expired: older than the backlog bound; retried: in a failed attempt. */
export type ForwardResult = 'sent' | 'rejected' | 'expired' | 'retried';

/** What forwarding reports; in the worker these become messages, in main metrics. */
export interface ForwardEvents {
  sent(signal: ForwardSignal, result: ForwardResult, count: number): void;
  backlog(signal: ForwardSignal, items: number, lagSeconds: number): void;
}

export interface ForwarderDeps {
  readonly store: ForwardStore;
  readonly exporter: OtlpExporter;
  readonly enricher: SpanEnricher;
  /** Runs a cursor write in its turn with the intake writer (see WriterTurn). */
  readonly write: (transaction: () => void) => void;
  readonly events: ForwardEvents;
  readonly logger: Logger;
}

/** One stream read from the store and sent downstream in order. */
interface Stream<Row> {
  readonly name: ForwardStream;
  readonly signal: ForwardSignal;
  read(after: number, limit: number): Row[];
  positionOf(row: Row): number;
  storedNs(row: Row): bigint;
  wanted(row: Row): boolean;
  encode(rows: readonly Row[]): Uint8Array;
  /** Items the server refused in an accepted request (partial_success). */
  rejected(response: Buffer): { count: number; message: string };
}

/** How often cursors are saved and the backlog measured. A crash re-sends at most this much. */
const REPORT_INTERVAL_MS = 1_000;
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * Forwarding, at least once: a cursor per stream (stored spans, sealed revisions) over the store, moved
 * only after the downstream accepted (or refused for good) what lies before it, and saved in the store,
 * so a restart resumes where it stopped. Retryable failures are retried with exponential backoff (the
 * server's RetryInfo wins) for as long as it takes; the data waits in the store, bounded by
 * max_backlog_age_minutes and retention. The two streams run independently: a downstream without a
 * logs service holds back verdicts only.
 */
export class Forwarder implements Component {
  private readonly positions = new Map<ForwardStream, number>();
  private readonly saved = new Map<ForwardStream, number>();
  private readonly loops: Array<Promise<void>> = [];
  private readonly wakers = new Set<() => void>();
  private reporter: NodeJS.Timeout | undefined;
  private readonly lifecycle = new Lifecycle('forwarding');

  constructor(
    private readonly config: Readonly<OtlpExporterConfig>,
    private readonly deps: ForwarderDeps,
  ) {}

  async start(): Promise<void> {
    this.lifecycle.begin();
    const streams: Array<Stream<ForwardSpanRow> | Stream<ForwardVerdictRow>> = [this.spanStream()];
    if (this.config.verdicts) streams.push(this.verdictStream());
    const { store } = this.deps;
    for (const stream of streams) {
      // First run: start after what is stored now (forwarding is not a replay of the history).
      const position = store.position(stream.name) ?? store.head(stream.name);
      this.positions.set(stream.name, position);
    }
    this.saveCursors();
    for (const stream of streams) this.loops.push(this.run(stream as Stream<unknown>));
    this.reporter = setInterval(() => this.report(), REPORT_INTERVAL_MS);
    this.report();
  }

  /** Stops after the export under way (bounded by timeout_ms) and saves the cursors. */
  async shutdown(): Promise<void> {
    if (!this.lifecycle.end()) return;
    clearInterval(this.reporter);
    for (const wake of this.wakers) wake();
    await Promise.all(this.loops);
    this.saveCursors();
    this.deps.exporter.close();
  }

  private async run<Row>(stream: Stream<Row>): Promise<void> {
    const { config } = this;
    const { exporter, events, logger } = this.deps;
    const log = logger.child({ signal: stream.signal });
    let failures = 0;
    while (this.lifecycle.running) {
      const after = this.positions.get(stream.name)!;
      let rows: Row[];
      try {
        rows = stream.read(after, config.send_batch_size);
      } catch (err) {
        log.error({ err }, 'reading the forward backlog failed');
        await this.sleep(config.poll_interval_ms);
        continue;
      }
      if (rows.length === 0) {
        await this.sleep(config.poll_interval_ms);
        continue;
      }
      const unsendableNs = nowNs() - BigInt(config.max_backlog_age_minutes * 60_000) * 1_000_000n;
      const expired = rows.filter((row) => stream.storedNs(row) < unsendableNs).length;
      const batch = rows.filter((row) => stream.storedNs(row) >= unsendableNs && stream.wanted(row));
      let body: Uint8Array | undefined;
      try {
        if (batch.length > 0) body = stream.encode(batch);
      } catch (err) {
        // Stored data this runledger cannot encode would fail every attempt: skip it, loudly.
        log.error({ err, items: batch.length }, 'could not encode stored data for forwarding; skipped');
        events.sent(stream.signal, 'rejected', batch.length);
      }
      if (body !== undefined) {
        const result = await exporter.export(stream.signal, body);
        if (result.status === 'retryable') {
          events.sent(stream.signal, 'retried', batch.length);
          if (failures === 0) log.warn({ reason: result.message }, 'forwarding failed; retrying with backoff');
          const delay = retryDelayMs(config.retry_on_failure, failures++, result.retryDelayMs);
          await this.sleep(delay);
          continue;
        }
        if (failures > 0) log.info({ attempts: failures + 1 }, 'forwarding recovered');
        failures = 0;
        if (result.status === 'permanent') {
          events.sent(stream.signal, 'rejected', batch.length);
          log.error({ reason: result.message, items: batch.length }, 'downstream refused an export for good; skipped');
        } else {
          const refused = stream.rejected(result.response);
          if (refused.count > 0) {
            events.sent(stream.signal, 'rejected', refused.count);
            log.warn({ reason: refused.message, items: refused.count }, 'downstream rejected part of an export');
          }
          events.sent(stream.signal, 'sent', batch.length - Math.min(refused.count, batch.length));
        }
      }
      if (expired > 0) events.sent(stream.signal, 'expired', expired);
      this.positions.set(stream.name, stream.positionOf(rows[rows.length - 1]!));
    }
  }

  private sleep(ms: number): Promise<void> {
    if (!this.lifecycle.running) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private report(): void {
    const { store, events, logger } = this.deps;
    try {
      this.saveCursors();
      const now = nowNs();
      for (const [name, position] of this.positions) {
        const { items, oldestNs } = store.backlog(name, position);
        events.backlog(name === 'spans' ? 'traces' : 'logs', items, oldestNs === undefined ? 0 : Math.max(0, Number(now - oldestNs) / 1e9));
      }
    } catch (err) {
      // Locked or busy: the next round saves and measures again (a crash meanwhile re-sends a little more).
      logger.error({ err }, 'saving forward cursors failed');
    }
  }

  private saveCursors(): void {
    const changed = [...this.positions].filter(([name, position]) => this.saved.get(name) !== position);
    if (changed.length === 0) return;
    const now = nowNs();
    this.deps.write(() => {
      for (const [name, position] of changed) this.deps.store.savePosition(name, position, now);
    });
    for (const [name, position] of changed) this.saved.set(name, position);
  }

  private spanStream(): Stream<ForwardSpanRow> {
    const { store, enricher } = this.deps;
    const forwardUnmatched = this.config.forward_unmatched;
    return {
      name: 'spans',
      signal: 'traces',
      read: (after, limit) => store.spansAfter(after, limit),
      positionOf: (row) => row.id,
      storedNs: (row) => row.receivedNs,
      wanted: (row) => forwardUnmatched || row.runKey !== null,
      encode: (rows) =>
        encodeTraceRequest(
          rows.map((row) => {
            const resource = store.resource(row.resourceId);
            return {
              body: enricher.enrich(row.body, row.resourceId, resource),
              resourceId: row.resourceId,
              resource,
              scopeId: row.scopeId,
              scope: store.scope(row.scopeId),
            };
          }),
        ),
      rejected: (response) => partialSuccess(() => ExportTraceServiceResponse.decode(response), 'rejectedSpans'),
    };
  }

  private verdictStream(): Stream<ForwardVerdictRow> {
    const { store } = this.deps;
    return {
      name: 'verdicts',
      signal: 'logs',
      read: (after, limit) => store.verdictsAfter(after, limit),
      positionOf: (row) => row.seq,
      storedNs: (row) => row.createdNs,
      wanted: () => true,
      encode: (rows) => encodeVerdictLogs(rows, nowNs()),
      rejected: (response) => partialSuccess(() => ExportLogsServiceResponse.decode(response), 'rejectedLogRecords'),
    };
  }
}

/**
 * The wait before the next attempt after `failures` failed ones: exponential backoff spread by
 * ± randomization_factor, unless the server said when (RetryInfo), which is used as given.
 */
export function retryDelayMs(
  retry: OtlpExporterConfig['retry_on_failure'],
  failures: number,
  serverDelayMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (serverDelayMs !== undefined) return serverDelayMs;
  const base = Math.min(retry.max_interval_ms, retry.initial_interval_ms * retry.multiplier ** failures);
  return base * (1 - retry.randomization_factor + random() * 2 * retry.randomization_factor);
}

function partialSuccess(decode: () => unknown, field: 'rejectedSpans' | 'rejectedLogRecords'): { count: number; message: string } {
  let response: unknown;
  try {
    response = decode();
  } catch (err) {
    // The server said OK: what it sent with it cannot take back the acknowledgement.
    return { count: 0, message: `undecodable response: ${err instanceof Error ? err.message : String(err)}` };
  }
  const partial = (response as { partialSuccess?: Record<string, unknown> | null }).partialSuccess;
  const value = partial?.[field] as { toNumber(): number } | number | undefined;
  const count = value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber();
  return { count, message: typeof partial?.errorMessage === 'string' ? partial.errorMessage : '' };
}
