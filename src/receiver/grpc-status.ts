import * as grpc from '@grpc/grpc-js';
import { isRunledgerError, type ErrorCode } from '../errors.js';
import { encodeRetryStatus } from '../otlp/responses.js';

const STATUS_BY_CODE: Record<ErrorCode, grpc.status> = {
  CONFIG_INVALID: grpc.status.INTERNAL,
  REQUEST_MALFORMED: grpc.status.INVALID_ARGUMENT,
  REQUEST_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  OVERLOADED: grpc.status.UNAVAILABLE,
  STORAGE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
};

/**
 * The one mapping from runledger errors to gRPC statuses (OTLP spec: retryable failures are
 * UNAVAILABLE with a RetryInfo detail; anything else is final and carries no RetryInfo).
 */
export function toGrpcError(err: unknown, retryDelayMs: number): Partial<grpc.StatusObject> {
  if (!isRunledgerError(err)) {
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }
  const code = STATUS_BY_CODE[err.code];
  const metadata = new grpc.Metadata();
  if (err.retryable) metadata.set('grpc-status-details-bin', encodeRetryStatus(code, err.message, retryDelayMs));
  return { code, details: err.message, metadata };
}
