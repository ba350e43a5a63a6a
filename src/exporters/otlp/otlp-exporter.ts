/** What an export carries: spans (traces) or verdict records (logs). */
export type ForwardSignal = 'traces' | 'logs';

/** How one export ended (OTLP spec, "Failures"): sent, retry later, or never retry. */
export type ExportResult =
  | { readonly status: 'success'; readonly response: Buffer }
  | { readonly status: 'retryable'; readonly message: string; readonly retryDelayMs?: number }
  | { readonly status: 'permanent'; readonly message: string };

/** Sends one already-encoded OTLP export request (ExportTraceServiceRequest or ExportLogsServiceRequest). */
export interface OtlpExporter {
  /** Resolves (never rejects) with how the downstream answered; `response` is its Export*ServiceResponse bytes. */
  export(signal: ForwardSignal, body: Uint8Array): Promise<ExportResult>;
  close(): void;
}
