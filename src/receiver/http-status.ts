import { isRunledgerError, type ErrorCode } from '../errors.js';
import { encodeStatus, type OtlpEncoding } from '../otlp/responses.js';
import { grpcCodeOf } from './grpc-status.js';

const HTTP_STATUS_BY_CODE: Record<ErrorCode, number> = {
  CONFIG_INVALID: 500,
  REQUEST_MALFORMED: 400,
  REQUEST_TOO_LARGE: 413,
  OVERLOADED: 429,
  STORAGE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  UNAUTHENTICATED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

const INTERNAL = 13; // google.rpc.Code.INTERNAL

export interface HttpErrorAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** A google.rpc.Status in the request's encoding (OTLP/HTTP spec: the error body). */
  readonly body: Buffer;
}

/**
 * The one mapping from runledger errors to OTLP/HTTP answers. A retryable failure (429, 503) carries
 * `Retry-After` in whole seconds and a RetryInfo detail; anything else is final: the OTLP
 * specification has clients drop a request answered 400 or 413 rather than retry it.
 */
export function toHttpError(err: unknown, retryDelayMs: number, encoding: OtlpEncoding): HttpErrorAnswer {
  if (!isRunledgerError(err)) {
    return { status: 500, headers: {}, body: encodeStatus(INTERNAL, 'internal error', undefined, encoding) };
  }
  const retry = err.retryable ? retryDelayMs : undefined;
  return {
    status: HTTP_STATUS_BY_CODE[err.code],
    headers: {
      ...(retry === undefined ? {} : { 'retry-after': String(Math.ceil(retry / 1000)) }),
      ...(err.code === 'METHOD_NOT_ALLOWED' ? { allow: 'POST' } : {}),
    },
    body: encodeStatus(grpcCodeOf(err), err.message, retry, encoding),
  };
}
