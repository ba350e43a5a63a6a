import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Attributes } from '@opentelemetry/api';
import { TRACE_SERVICE_EXPORT_PATH } from '../../src/otlp/proto.js';
import type { OtelSender } from './otel-sender.js';

export interface SecureSenderOptions {
  /** Channel credentials (TLS, mTLS); the exporter's default for the URL scheme otherwise. */
  readonly credentials?: grpc.ChannelCredentials;
  /** Sent with every Export, e.g. `authorization: Bearer …`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The official OTLP/gRPC exporter in a real SDK pipeline, with the options a deployment behind TLS,
 * mTLS or a bearer token sets: `credentials` from @grpc/grpc-js and `metadata`. Spans are exported as
 * they end, and flush() rejects when an export failed.
 */
export function createSecureOtelSender(url: string, resource: Attributes, options: SecureSenderOptions = {}): OtelSender {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.headers ?? {})) metadata.set(key, value);
  const exporter = new OTLPTraceExporter({
    url,
    metadata,
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
  });
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return {
    tracer: provider.getTracer('runledger-e2e-access'),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

export interface RawExportOutcome {
  readonly code: grpc.status;
  readonly details: string;
}

/**
 * One TraceService/Export call with an empty request (a valid ExportTraceServiceRequest that stores
 * nothing) through a raw grpc-js client, so a test sees the status a given transport and credential
 * get, including refusals the OTel exporter would retry and hide.
 */
export function rawExport(
  address: string,
  credentials: grpc.ChannelCredentials,
  options: { headers?: Readonly<Record<string, string>>; channel?: grpc.ChannelOptions; deadlineMs?: number } = {},
): Promise<RawExportOutcome> {
  const client = new grpc.Client(address, credentials, options.channel ?? {});
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.headers ?? {})) metadata.set(key, value);
  const identity = (b: Buffer): Buffer => b;
  return new Promise<RawExportOutcome>((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      TRACE_SERVICE_EXPORT_PATH,
      identity,
      identity,
      Buffer.alloc(0),
      metadata,
      { deadline: Date.now() + (options.deadlineMs ?? 10_000) },
      (err) => {
        client.close();
        resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' });
      },
    );
  });
}
