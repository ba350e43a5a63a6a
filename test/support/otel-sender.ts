import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Attributes, Tracer } from '@opentelemetry/api';

export interface OtelSender {
  readonly tracer: Tracer;
  /** Exports everything ended so far; rejects when the export failed. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The OTLP protocols of the OpenTelemetry SDKs (OTEL_EXPORTER_OTLP_PROTOCOL). */
export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';

export interface ExporterOptions {
  readonly compression?: 'gzip' | 'none';
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The official OTLP trace exporter of a protocol, sending to `url` (gRPC: `http://host:port`; HTTP: the
 * full `http://host:port/v1/traces`).
 */
export function createOtlpExporter(protocol: OtlpProtocol, url: string, options: ExporterOptions = {}): SpanExporter {
  // The exporters type `compression` with an enum of their base package; its values are these strings.
  const compression = (options.compression === 'gzip' ? 'gzip' : 'none') as never;
  if (protocol === 'grpc') return new GrpcExporter({ url, compression });
  const config = { url, compression, ...(options.headers === undefined ? {} : { headers: { ...options.headers } }) };
  return protocol === 'http/json' ? new JsonExporter(config) : new ProtobufExporter(config);
}

/** A real OpenTelemetry SDK pipeline exporting OTLP to runledger (gRPC unless told), as an application would. */
export function createOtelSender(
  url: string,
  resource: Attributes,
  options: ExporterOptions & { protocol?: OtlpProtocol } = {},
): OtelSender {
  const exporter = createOtlpExporter(options.protocol ?? 'grpc', url, options);
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
