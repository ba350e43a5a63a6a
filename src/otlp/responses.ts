import { ExportTraceServiceResponse, RpcStatus, RetryInfo, RETRY_INFO_TYPE_URL, Long } from './proto.js';

/** Encodes the Export answer; partial_success is set only when something was rejected (OTLP spec). */
export function encodeExportResponse(rejectedSpans: number, errorMessage: string): Buffer {
  const message =
    rejectedSpans > 0 || errorMessage !== ''
      ? { partialSuccess: { rejectedSpans: Long.fromNumber(rejectedSpans), errorMessage } }
      : {};
  return Buffer.from(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(message)).finish());
}

/** The google.rpc.Status carried in `grpc-status-details-bin`, with a RetryInfo detail. */
export function encodeRetryStatus(grpcCode: number, message: string, retryDelayMs: number): Buffer {
  const retryInfo = RetryInfo.encode(
    RetryInfo.fromObject({
      retryDelay: { seconds: Long.fromNumber(Math.floor(retryDelayMs / 1000)), nanos: (retryDelayMs % 1000) * 1e6 },
    }),
  ).finish();
  const status = RpcStatus.fromObject({
    code: grpcCode,
    message,
    // protobufjs serves google.protobuf.Any from its bundled definition, whose field keeps the name `type_url`.
    details: [{ type_url: RETRY_INFO_TYPE_URL, value: retryInfo }],
  });
  return Buffer.from(RpcStatus.encode(status).finish());
}
