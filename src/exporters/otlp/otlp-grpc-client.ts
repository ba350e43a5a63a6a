import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { LOGS_SERVICE_EXPORT_PATH, TRACE_SERVICE_EXPORT_PATH } from '../../otlp/proto.js';
import type { OtlpExporterConfig } from './config.js';
import type { ForwardSignal } from './otlp-exporter.js';
import type { ExportResult, OtlpExporter } from './otlp-exporter.js';
import { decodeRefusalStatus } from './rpc-status.js';

const METHOD_PATHS: Readonly<Record<ForwardSignal, string>> = { traces: TRACE_SERVICE_EXPORT_PATH, logs: LOGS_SERVICE_EXPORT_PATH };

const identity = (b: Buffer): Buffer => b;

/** grpc-js's code for gzip in `grpc.default_compression_algorithm`. */
const GZIP = 2;

/**
 * A gRPC client that sends already-encoded OTLP requests: forwarding builds the bytes itself (the
 * stored span bytes plus appended attributes), so nothing is decoded and encoded again here.
 */
export class OtlpGrpcClient implements OtlpExporter {
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;

  constructor(private readonly config: Readonly<OtlpExporterConfig> & { readonly endpoint: string }) {
    const { tls } = config;
    const credentials = tls.insecure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(
          tls.ca_file === undefined ? null : readFileSync(tls.ca_file),
          tls.key_file === undefined ? null : readFileSync(tls.key_file),
          tls.cert_file === undefined ? null : readFileSync(tls.cert_file),
        );
    const options: grpc.ChannelOptions = {
      ...(config.compression === 'gzip' ? { 'grpc.default_compression_algorithm': GZIP } : {}),
      ...(tls.server_name_override === undefined ? {} : { 'grpc.ssl_target_name_override': tls.server_name_override }),
    };
    this.client = new grpc.Client(config.endpoint, credentials, options);
    this.metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(config.headers)) this.metadata.set(key.toLowerCase(), value);
    if (config.auth !== undefined) {
      this.metadata.set('authorization', `Bearer ${readFileSync(config.auth.bearer_token_file, 'utf8').trim()}`);
    }
  }

  export(signal: ForwardSignal, body: Uint8Array): Promise<ExportResult> {
    return new Promise<ExportResult>((resolve) => {
      try {
        this.client.makeUnaryRequest<Buffer, Buffer>(
          METHOD_PATHS[signal],
          identity,
          identity,
          Buffer.from(body.buffer, body.byteOffset, body.byteLength),
          this.metadata,
          { deadline: Date.now() + this.config.timeout_ms },
          (err, response) => resolve(err ? classify(err) : { status: 'success', response: response ?? Buffer.alloc(0) }),
        );
      } catch (err) {
        resolve({ status: 'retryable', message: err instanceof Error ? err.message : String(err) });
      }
    });
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Makes grpc-js gzip export requests on the calling thread. It compresses with `zlib.gzip`, which runs
 * on libuv's thread pool, shared by the whole process and at normal CPU priority, so a niced
 * forwarding thread would still take a full share of the cores from intake for its heaviest work
 * (gzip was most of forwarding's CPU: ~60 MB/s per core at the default level). Builtin modules are
 * per thread, so this changes only the calling worker's zlib, and with it only its grpc-js.
 */
export function gzipOnThisThread(): void {
  zlib.gzip = ((input: zlib.InputType, callback: zlib.CompressCallback) => {
    let output;
    try {
      output = zlib.gzipSync(input);
    } catch (err) {
      callback(err as Error, Buffer.alloc(0));
      return;
    }
    callback(null, output);
  }) as typeof zlib.gzip;
}

/**
 * As the Collector's otlp exporter decides, with one difference: only a request the server calls
 * malformed (INVALID_ARGUMENT), or too large with no RetryInfo, is dropped. Authentication and
 * permission failures, UNIMPLEMENTED and the like are configuration problems: the data waits in the
 * store until they are fixed rather than being dropped.
 */
export function classify(err: grpc.ServiceError): ExportResult {
  const message = `${grpc.status[err.code] ?? err.code}: ${err.details}`;
  const details = err.metadata?.get('grpc-status-details-bin')[0];
  const retryDelayMs = Buffer.isBuffer(details) ? decodeRefusalStatus(details)?.retryDelayMs : undefined;
  if (err.code === grpc.status.INVALID_ARGUMENT) return { status: 'permanent', message };
  if (err.code === grpc.status.RESOURCE_EXHAUSTED && retryDelayMs === undefined) return { status: 'permanent', message };
  return { status: 'retryable', message, ...(retryDelayMs === undefined ? {} : { retryDelayMs }) };
}
