import * as grpc from '@grpc/grpc-js';
import { encodeExportResponse } from '../otlp/responses.js';
import { TRACE_SERVICE_EXPORT_PATH } from '../otlp/proto.js';
import { rawExportMethod } from '../otlp/raw-grpc-method.js';
import type { Component } from '../pipeline/component.js';
import type { SpanSink } from '../pipeline/span-sink.js';
import type { OtlpTransportConfig } from './config.js';
import { toGrpcError } from './grpc-status.js';
import { createServerCredentials, tlsMode } from './credentials.js';
import { OtlpIntake, type OtlpIntakeDeps } from './otlp-intake.js';

/** TraceService/Export with raw bytes, so decoding errors are ours to report as INVALID_ARGUMENT. */
const TRACE_SERVICE: grpc.ServiceDefinition = { Export: rawExportMethod(TRACE_SERVICE_EXPORT_PATH) };

export type OtlpGrpcReceiverDeps = OtlpIntakeDeps;

export class OtlpGrpcReceiver implements Component {
  private server: grpc.Server | undefined;
  private stopping = false;
  private boundPort = 0;
  private readonly intake: OtlpIntake;

  constructor(
    private readonly config: OtlpTransportConfig,
    next: SpanSink,
    private readonly deps: OtlpGrpcReceiverDeps,
  ) {
    this.intake = new OtlpIntake(config, next, 'grpc', deps);
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
      { endpoint: this.config.endpoint, port: this.boundPort, tls: tlsMode(this.config.tls), auth: this.intake.authMode },
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
    // No stopping check: once shutdown begins grpc-js accepts no new calls, so a call that reaches
    // here was already arriving and is finished like any other in flight.
    void this.intake
      .export({ authorization: call.metadata.get('authorization')[0]?.toString(), encoding: 'protobuf', body: () => call.request })
      .then((result) => {
        if (result.status === 'success') callback(null, encodeExportResponse(result.rejectedSpans, result.errorMessage));
        else callback(toGrpcError(result.error, this.config.retry_delay_ms));
      });
  };
}
