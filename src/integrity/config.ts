import { z } from 'zod';

export const integrityConfigSchema = z
  .strictObject({
    signing_key_file: z
      .string()
      .min(1)
      .default('./data/signing-key.pem')
      .describe('Ed25519 private key (PKCS#8 PEM); created with its public key (<file>.pub) when absent'),
    origin: z.string().min(1).default('runledger').describe('origin line of signed checkpoints (name this store)'),
    checkpoint_every_records: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe('write a signed checkpoint after this many new chain records'),
    checkpoint_interval_seconds: z
      .number()
      .int()
      .positive()
      .default(60)
      .describe('and at least this often while records are added'),
  })
  .prefault({});

export type IntegrityConfig = z.infer<typeof integrityConfigSchema>;
