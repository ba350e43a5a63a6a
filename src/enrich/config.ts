import { z } from 'zod';

export const enrichConfigSchema = z
  .strictObject({
    identities_file: z
      .string()
      .min(1)
      .optional()
      .describe('NHI inventory (YAML or JSON); with it, an actor not listed is the finding unregistered_identity'),
    policies_file: z
      .string()
      .min(1)
      .optional()
      .describe('policy catalogue (YAML or JSON): policy revisions, agents\' approved tools, pinned workflow definitions'),
    reload_interval_seconds: z
      .number()
      .positive()
      .default(5)
      .describe('how often both files are checked for changes; a broken edit keeps the last good version'),
  })
  .prefault({});

export type EnrichConfig = z.infer<typeof enrichConfigSchema>;
