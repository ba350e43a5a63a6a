import { z } from 'zod';
import { receiverConfigSchema } from '../receiver/config.js';
import { httpConfigSchema } from '../http/config.js';
import { storageConfigSchema } from '../store/config.js';
import { runsConfigSchema } from '../runs/config.js';
import { filterConfigSchema } from '../processors/filter/config.js';
import { fieldsConfigSchema } from '../evidence/fields.js';
import { profilesConfigSchema } from '../evidence/profiles.js';
import { recognisersConfigSchema } from '../evidence/recognisers.js';
import { integrityConfigSchema } from '../integrity/config.js';
import { retentionConfigSchema } from '../retention/config.js';
import { enrichConfigSchema } from '../enrich/config.js';
import { redactionConfigSchema } from '../redaction/config.js';
import { exportersConfigSchema } from '../exporters/otlp/config.js';

export const telemetryConfigSchema = z
  .strictObject({
    metrics: z
      .strictObject({
        compliance_window_minutes: z
          .number()
          .int()
          .positive()
          .max(7 * 24 * 60)
          .default(60)
          .describe('window of runledger_compliance_ratio (compliant ÷ evaluated run revisions)'),
        max_workflow_labels: z
          .number()
          .int()
          .positive()
          .default(200)
          .describe('distinct workflow label values on metrics; later ones are reported as "other"'),
      })
      .prefault({}),
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
    recognisers: recognisersConfigSchema,
    agent_runs: z
      .boolean()
      .default(true)
      .describe('an agent framework\'s top agent span (a recogniser\'s role agent) makes a run of kind agent_task even with no nhi.* attributes'),
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
  enrich: enrichConfigSchema,
  integrity: integrityConfigSchema,
  redaction: redactionConfigSchema,
  retention: retentionConfigSchema,
  exporters: exportersConfigSchema,
  telemetry: telemetryConfigSchema,
});

export type Config = z.infer<typeof configSchema>;
