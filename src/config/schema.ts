import { z } from 'zod';
import { receiverConfigSchema } from '../receiver/config.js';
import { httpConfigSchema } from '../http/config.js';
import { storageConfigSchema } from '../store/config.js';
import { runsConfigSchema } from '../runs/config.js';
import { filterConfigSchema } from '../processors/filter/config.js';
import { fieldsConfigSchema } from '../evidence/fields.js';
import { profilesConfigSchema } from '../evidence/profiles.js';

export const telemetryConfigSchema = z
  .strictObject({
    logs: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
  })
  .prefault({});

export const evidenceConfigSchema = z
  .strictObject({
    fields: fieldsConfigSchema,
    profiles: profilesConfigSchema,
  })
  .prefault({});

/** The one configuration schema, composed from each component's section (DESIGN §10). */
export const configSchema = z.strictObject({
  receiver: receiverConfigSchema,
  http: httpConfigSchema,
  storage: storageConfigSchema,
  runs: runsConfigSchema,
  filter: filterConfigSchema,
  evidence: evidenceConfigSchema,
  telemetry: telemetryConfigSchema,
});

export type Config = z.infer<typeof configSchema>;
