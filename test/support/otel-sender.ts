import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Attributes, Tracer } from '@opentelemetry/api';

export interface OtelSender {
  readonly tracer: Tracer;
  /** Exports everything ended so far; rejects when the export failed. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** A real OpenTelemetry SDK pipeline exporting OTLP/gRPC to runledger, as an application would. */
export function createOtelSender(url: string, resource: Attributes, options: { compression?: 'gzip' | 'none' } = {}): OtelSender {
  const exporter = new OTLPTraceExporter({ url, compression: options.compression === 'gzip' ? 'gzip' as never : undefined });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 50, maxExportBatchSize: 512 })],
  });
  return {
    tracer: provider.getTracer('runledger-e2e'),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
