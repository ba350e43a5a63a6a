import { z } from 'zod';
import { endpointSchema } from '../config/endpoint.js';

const tlsSchema = z
  .strictObject({
    cert_file: z.string().min(1).describe('server certificate (PEM)'),
    key_file: z.string().min(1).describe('server private key (PEM)'),
    client_ca_file: z.string().min(1).optional().describe('CA (PEM) that client certificates must chain to: enables mTLS'),
    reload_interval_seconds: z.number().int().positive().default(60).describe('how often the files are re-read'),
  })
  .optional()
  .describe('TLS for the receiver; absent means plaintext (sidecar on localhost)');

/** The options both OTLP transports share, so gRPC and HTTP are configured (and behave) alike. */
function transportSchema(transport: 'gRPC' | 'HTTP', endpoint: string, refusal: string) {
  return z.strictObject({
    endpoint: endpointSchema
      .default(endpoint)
      .describe(`OTLP/${transport} listen address (the Collector default; use 0.0.0.0:${endpoint.split(':')[1]} in a container)`),
    max_recv_msg_size_mib: z
      .number()
      .positive()
      .max(1024)
      .default(4)
      .describe('largest accepted request, in MiB, checked after decompression'),
    max_concurrent_requests: z
      .number()
      .int()
      .positive()
      .default(64)
      .describe(`requests in flight beyond this are refused with ${refusal}`),
    retry_delay_ms: z
      .number()
      .int()
      .nonnegative()
      .default(1000)
      .describe(`retry delay suggested to clients when refusing a request they may retry (${transport === 'gRPC' ? 'RetryInfo' : 'Retry-After, in whole seconds, and RetryInfo'})`),
    tls: tlsSchema,
    auth: z
      .strictObject({
        bearer_token_file: z.string().min(1).describe('file holding the token clients send as "authorization: Bearer <token>"'),
      })
      .optional()
      .describe(`require a bearer token on every Export (${transport === 'gRPC' ? 'UNAUTHENTICATED' : '401'} otherwise)`),
  });
}

export const receiverConfigSchema = z
  .strictObject({
    otlp_grpc: transportSchema('gRPC', 'localhost:4317', 'UNAVAILABLE and RetryInfo')
      .prefault({})
      .describe('OTLP/gRPC trace receiver (gzip and uncompressed requests)'),
    otlp_http: transportSchema('HTTP', 'localhost:4318', '429 and Retry-After')
      .prefault({})
      .describe('OTLP/HTTP trace receiver: POST /v1/traces, protobuf or JSON, gzip or uncompressed; its own listener, apart from the API'),
  })
  .prefault({});

export type ReceiverConfig = z.infer<typeof receiverConfigSchema>;
/** The options of either transport. */
export type OtlpTransportConfig = ReceiverConfig['otlp_grpc'];
export type TlsConfig = OtlpTransportConfig['tls'];
