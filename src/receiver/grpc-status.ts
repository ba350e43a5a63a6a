import * as grpc from '@grpc/grpc-js';
import { isRunledgerError, type ErrorCode, type RunledgerError } from '../errors.js';
import { encodeStatus } from '../otlp/responses.js';

const STATUS_BY_CODE: Record<ErrorCode, grpc.status> = {
  CONFIG_INVALID: grpc.status.INTERNAL,
  REQUEST_MALFORMED: grpc.status.INVALID_ARGUMENT,
  REQUEST_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  OVERLOADED: grpc.status.UNAVAILABLE,
  STORAGE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  SHUTTING_DOWN: grpc.status.UNAVAILABLE,
  NOT_FOUND: grpc.status.UNIMPLEMENTED,
  METHOD_NOT_ALLOWED: grpc.status.UNIMPLEMENTED,
  UNSUPPORTED_MEDIA_TYPE: grpc.status.INVALID_ARGUMENT,
};

/** The gRPC code of an error; OTLP/HTTP puts it in the google.rpc.Status body too. */
export function grpcCodeOf(err: RunledgerError): grpc.status {
  return STATUS_BY_CODE[err.code];
}

/**
 * The one mapping from runledger errors to gRPC statuses (OTLP spec: retryable failures are
 * UNAVAILABLE with a RetryInfo detail; anything else is final and carries no RetryInfo).
 */
export function toGrpcError(err: unknown, retryDelayMs: number): Partial<grpc.StatusObject> {
  if (!isRunledgerError(err)) {
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }
  const code = grpcCodeOf(err);
  const metadata = new grpc.Metadata();
  if (err.retryable) metadata.set('grpc-status-details-bin', encodeStatus(code, err.message, retryDelayMs));
  return { code, details: err.message, metadata };
}
