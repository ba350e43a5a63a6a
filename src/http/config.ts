import { z } from 'zod';
import { endpointSchema } from '../config/endpoint.js';

export const httpConfigSchema = z
  .strictObject({
    endpoint: endpointSchema
      .default('localhost:4320')
      .describe('listen address for /healthz, /readyz, /metrics, /api/v1 and the web console'),
    auth: z
      .strictObject({
        bearer_token_file: z.string().min(1).describe('file holding the token API clients send as "Authorization: Bearer <token>" (and the web console asks for at sign-in)'),
      })
      .optional()
      .describe('guard /api/v1 and the web console with a bearer token; /healthz, /readyz and /metrics stay open'),
  })
  .prefault({});

export type HttpConfig = z.infer<typeof httpConfigSchema>;
