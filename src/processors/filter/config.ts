import { z } from 'zod';

/** Matches a span by attribute (span first, then resource) and/or by span name; every given part must match. */
const spanMatchSchema = z
  .strictObject({
    attribute: z.string().min(1).optional().describe('attribute key that must be present'),
    equals: z.string().optional().describe('required value of that attribute'),
    span_name: z.string().min(1).optional().describe('exact span name'),
    span_name_prefix: z.string().min(1).optional().describe('span name prefix'),
  })
  .refine((m) => m.attribute !== undefined || m.span_name !== undefined || m.span_name_prefix !== undefined, {
    message: 'a rule needs attribute, span_name or span_name_prefix',
  })
  .refine((m) => m.equals === undefined || m.attribute !== undefined, {
    message: 'equals needs attribute',
    path: ['equals'],
  });

export type SpanMatch = z.infer<typeof spanMatchSchema>;

export const filterConfigSchema = z
  .strictObject({
    include: z
      .array(spanMatchSchema)
      .default([])
      .describe('spans that start a run even without a run identity attribute (their run key is the trace id)'),
    exclude: z
      .array(spanMatchSchema)
      .default([])
      .describe('spans dropped (counted) before anything else, e.g. { attribute: service.name, equals: healthcheck }'),
    pending_ttl_ms: z
      .number()
      .int()
      .positive()
      .default(600_000)
      .describe('how long spans of a trace with no run identity yet are kept waiting for one'),
    max_tracked_traces: z
      .number()
      .int()
      .positive()
      .default(200_000)
      .describe('traces remembered in memory to route later spans to their run without a lookup'),
  })
  .prefault({});

export type FilterConfig = z.infer<typeof filterConfigSchema>;
