import { z } from 'zod';

/** A key or glob: `*` matches any run of characters (dots too), `?` one character. */
const keyPatternSchema = z.string().min(1);

const regexSchema = z
  .string()
  .min(1)
  .superRefine((source, ctx) => {
    try {
      new RegExp(source);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

export const redactionConfigSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('replace secrets in resource, scope, span, event and link attributes by a keyed hash before storing'),
    hmac_key_file: z
      .string()
      .min(1)
      .default('./data/redaction-hmac.key')
      .describe('HMAC-SHA-256 key (at least 32 bytes, hex or raw); created with a random key when absent, so equal secrets stay correlatable across restarts'),
    keys: z
      .array(keyPatternSchema)
      .default([])
      .describe(
        'attribute keys always redacted, exact or glob (`*.secret`); matched against the full dotted key, nested kvlist keys joined by "."; wins over allow_keys',
      ),
    patterns: z
      .array(regexSchema)
      .default([])
      .describe('extra JavaScript regular expressions; a string or number value containing a match is redacted'),
    allow_keys: z
      .array(keyPatternSchema)
      .default([])
      .describe('attribute keys never redacted (exact or glob, e.g. nhi.change.target); their nested values too'),
  })
  .prefault({});

export type RedactionConfig = z.infer<typeof redactionConfigSchema>;
