import { z } from 'zod';

export const retentionConfigSchema = z
  .strictObject({
    max_age_days: z
      .number()
      .positive()
      .optional()
      .describe('runs evaluated longer ago than this are pruned (absent: kept forever)'),
    by_kind: z
      .record(z.string().min(1), z.number().positive())
      .default({})
      .describe('max age in days per run.kind, overriding max_age_days (e.g. { jit_access: 400 })'),
    interval_minutes: z.number().int().positive().default(60).describe('how often pruning runs'),
  })
  .prefault({});

export type RetentionConfig = z.infer<typeof retentionConfigSchema>;
