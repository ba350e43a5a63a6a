import { z } from 'zod';
import { endpointSchema } from '../config/endpoint.js';

export const httpConfigSchema = z
  .strictObject({
    endpoint: endpointSchema
      .default('localhost:4320')
      .describe('listen address for /healthz, /readyz, /metrics and /api/v1'),
  })
  .prefault({});

export type HttpConfig = z.infer<typeof httpConfigSchema>;
