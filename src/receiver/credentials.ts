import * as grpc from '@grpc/grpc-js';
import type { ReceiverConfig } from './config.js';

/**
 * Server credentials: insecure, TLS, or mTLS when a client CA is set. Files are re-read every
 * `reload_interval_seconds`, so rotated certificates take effect without a restart.
 */
export function createServerCredentials(tls: ReceiverConfig['otlp_grpc']['tls']): grpc.ServerCredentials {
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
