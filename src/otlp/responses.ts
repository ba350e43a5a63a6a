import { ExportTraceServiceResponse, RpcStatus, RetryInfo, RETRY_INFO_TYPE_URL, Long } from './proto.js';

/** The two encodings of OTLP/HTTP bodies; OTLP/gRPC always uses protobuf. */
export type OtlpEncoding = 'protobuf' | 'json';

/** Encodes the Export answer; partial_success is set only when something was rejected (OTLP spec). */
export function encodeExportResponse(rejectedSpans: number, errorMessage: string, encoding: OtlpEncoding = 'protobuf'): Buffer {
  const partial = rejectedSpans > 0 || errorMessage !== '';
  if (encoding === 'json') {
    // proto3 JSON writes int64 as a decimal string.
    return Buffer.from(JSON.stringify(partial ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } } : {}));
  }
  const message = partial ? { partialSuccess: { rejectedSpans: Long.fromNumber(rejectedSpans), errorMessage } } : {};
  return Buffer.from(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(message)).finish());
}

/**
 * A google.rpc.Status (OTLP's error body over HTTP, and `grpc-status-details-bin` over gRPC), with a
 * RetryInfo detail when `retryDelayMs` is given.
 */
export function encodeStatus(grpcCode: number, message: string, retryDelayMs?: number, encoding: OtlpEncoding = 'protobuf'): Buffer {
  if (encoding === 'json') {
    const details =
      retryDelayMs === undefined ? [] : [{ '@type': RETRY_INFO_TYPE_URL, retryDelay: `${retryDelayMs / 1000}s` }];
    return Buffer.from(JSON.stringify({ code: grpcCode, message, details }));
  }
  const details =
    retryDelayMs === undefined
      ? []
      : [
          {
            // protobufjs serves google.protobuf.Any from its bundled definition, whose field keeps the name `type_url`.
            type_url: RETRY_INFO_TYPE_URL,
            value: RetryInfo.encode(
              RetryInfo.fromObject({
                retryDelay: { seconds: Long.fromNumber(Math.floor(retryDelayMs / 1000)), nanos: (retryDelayMs % 1000) * 1e6 },
              }),
            ).finish(),
          },
        ];
  return Buffer.from(RpcStatus.encode(RpcStatus.fromObject({ code: grpcCode, message, details })).finish());
}
