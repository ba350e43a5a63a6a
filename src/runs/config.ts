import { z } from 'zod';

export const runsConfigSchema = z
  .strictObject({
    settle_ms: z
      .number()
      .int()
      .nonnegative()
      .default(2000)
      .describe('a run with its root is evaluated once no new span arrived for this long'),
    max_open_ms: z
      .number()
      .int()
      .positive()
      .default(300_000)
      .describe('a run still without a root after this long is evaluated with finding root_span_missing'),
    max_open_runs: z
      .number()
      .int()
      .positive()
      .default(100_000)
      .describe('runs still collecting spans beyond this many open runs are evaluated early, oldest first, with finding run_capped (runs already due wait their turn)'),
    max_spans_per_run: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('a run reaching this many spans is evaluated early with finding run_capped'),
  })
  .prefault({});

export type RunsConfig = z.infer<typeof runsConfigSchema>;
