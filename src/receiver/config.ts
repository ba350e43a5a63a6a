import { z } from 'zod';
import { endpointSchema } from '../config/endpoint.js';

export const receiverConfigSchema = z
  .strictObject({
    otlp_grpc: z
      .strictObject({
        endpoint: endpointSchema
          .default('localhost:4317')
          .describe('OTLP/gRPC listen address (the Collector default; use 0.0.0.0:4317 in a container)'),
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
          .describe('requests in flight beyond this are refused with UNAVAILABLE and RetryInfo'),
        retry_delay_ms: z
          .number()
          .int()
          .nonnegative()
          .default(1000)
          .describe('retry delay suggested to clients in RetryInfo when refusing with UNAVAILABLE'),
        tls: z
          .strictObject({
            cert_file: z.string().min(1).describe('server certificate (PEM)'),
            key_file: z.string().min(1).describe('server private key (PEM)'),
            client_ca_file: z.string().min(1).optional().describe('CA (PEM) that client certificates must chain to: enables mTLS'),
            reload_interval_seconds: z.number().int().positive().default(60).describe('how often the files are re-read'),
          })
          .optional()
          .describe('TLS for the receiver; absent means plaintext (sidecar on localhost)'),
        auth: z
          .strictObject({
            bearer_token_file: z.string().min(1).describe('file holding the token clients send as "authorization: Bearer <token>"'),
          })
          .optional()
          .describe('require a bearer token on every Export (UNAUTHENTICATED otherwise)'),
      })
      .prefault({})
      .describe('OTLP/gRPC trace receiver (gzip and uncompressed requests)'),
  })
  .prefault({});

export type ReceiverConfig = z.infer<typeof receiverConfigSchema>;
