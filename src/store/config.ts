import { z } from 'zod';

export const storageConfigSchema = z
  .strictObject({
    sqlite: z
      .strictObject({
        path: z.string().min(1).default('./data/runledger.db').describe('SQLite database file (WAL mode)'),
        synchronous: z
          .enum(['full', 'normal'])
          .default('full')
          .describe('full survives power loss; normal survives a process crash but may lose the last commits on power loss'),
        busy_timeout_ms: z
          .number()
          .int()
          .nonnegative()
          .default(5000)
          .describe('how long a writer waits for a lock held by another connection (CLI readers, backups)'),
      })
      .prefault({}),
  })
  .prefault({});

export type StorageConfig = z.infer<typeof storageConfigSchema>;
