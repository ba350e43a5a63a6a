/**
 * runledger's one error module. Every error has a stable `code` (documented in the README) and says
 * whether the operation may be retried; only src/receiver/grpc-status.ts maps them to gRPC statuses and
 * only src/receiver/http-status.ts to OTLP/HTTP statuses.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'REQUEST_MALFORMED'
  | 'REQUEST_TOO_LARGE'
  | 'OVERLOADED'
  | 'STORAGE_UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'SHUTTING_DOWN'
  // OTLP/HTTP only: a request that is not an Export at all, or in an encoding it cannot be read in.
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'UNSUPPORTED_MEDIA_TYPE';

export class RunledgerError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RunledgerError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export class ConfigError extends RunledgerError {
  /** Every problem found, each as "yaml.path: message". */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration in ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function isRunledgerError(err: unknown): err is RunledgerError {
  return err instanceof RunledgerError;
}
