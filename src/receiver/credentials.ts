import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsConfig } from './config.js';

/**
 * Server credentials: insecure, TLS, or mTLS when a client CA is set. Files are re-read every
 * `reload_interval_seconds`, so rotated certificates take effect without a restart.
 */
export function createServerCredentials(tls: TlsConfig): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: tls.cert_file,
    privateKeyFile: tls.key_file,
    ...(tls.client_ca_file !== undefined ? { caCertificateFile: tls.client_ca_file } : {}),
    refreshIntervalMs: tls.reload_interval_seconds * 1000,
  });
  // grpc-js passes its first argument on as the identity provider and its second as the CA provider.
  const mtls = tls.client_ca_file !== undefined;
  return grpc.experimental.createCertificateProviderServerCredentials(provider, mtls ? provider : (null as never), mtls);
}

/** The same files as node:tls options (OTLP/HTTP): with a client CA, a client certificate is required. */
export function readTlsOptions(tls: NonNullable<TlsConfig>): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  const mtls = tls.client_ca_file !== undefined;
  return {
    cert: readFileSync(tls.cert_file),
    key: readFileSync(tls.key_file),
    ...(mtls ? { ca: readFileSync(tls.client_ca_file!) } : {}),
    requestCert: mtls,
    rejectUnauthorized: mtls,
  };
}

/** `off`, `tls` or `mtls`, as the receivers' listening log lines name it. */
export function tlsMode(tls: TlsConfig): 'off' | 'tls' | 'mtls' {
  return tls === undefined ? 'off' : tls.client_ca_file !== undefined ? 'mtls' : 'tls';
}
