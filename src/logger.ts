import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'runledger' },
    // A misplaced secret in an error must not reach the log in clear.
    redact: { paths: ['*.authorization', '*.token', '*.password'], censor: '[redacted]' },
  });
}
