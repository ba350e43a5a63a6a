import { z } from 'zod';
import { formatIssues } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { isRecord, readDataFile } from './data-file.js';
import { normaliseIdentityKey, normaliseTrustDomain, spiffeIdProblem } from './identity-key.js';

export const NHI_TYPES = ['service_account', 'api_key', 'token', 'workload', 'ai_agent'] as const;
export type NhiType = (typeof NHI_TYPES)[number];

/** What the inventory says about the identity behind an actor key. */
export interface IdentityMatch {
  /** Canonical id. */
  readonly id: string;
  readonly type: NhiType;
  readonly owner: string;
  readonly team: string;
  /** Privilege tier, free text (standard, privileged, critical, ...). */
  readonly tier: string;
}

const text = z.string().trim().min(1, 'must not be empty');

const identityKeySchema = text.superRefine((key, ctx) => {
  const problem = spiffeIdProblem(key);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const trustDomainSchema = z.string().transform((entry, ctx) => {
  const name = normaliseTrustDomain(entry);
  if (name === undefined) {
    ctx.addIssue({ code: 'custom', message: 'not a SPIFFE trust domain name (letters, digits, ".", "-", "_")' });
    return z.NEVER;
  }
  return name;
});

const identitySchema = z.strictObject({
  id: identityKeySchema.describe('canonical id; it also matches itself'),
  type: z.enum(NHI_TYPES).describe('kind of non-human identity'),
  owner: text.describe('accountable person or group'),
  team: text.describe('owning team'),
  tier: text.describe('privilege tier, free text (e.g. standard, privileged, critical)'),
  keys: z
    .array(identityKeySchema)
    .default([])
    .describe('identity keys that refer to it: SPIFFE ids, system:serviceaccount:NS:NAME, role ARNs, API key ids'),
});

/** The NHI inventory file (YAML or JSON). */
export const inventoryFileSchema = z.strictObject({
  spiffe_trust_domains: z
    .array(trustDomainSchema)
    .default([])
    .describe('trust domains whose spiffe://TD/ns/NS/sa/NAME ids are the account system:serviceaccount:NS:NAME'),
  identities: z.array(identitySchema).describe('every known non-human identity'),
});

export type InventoryFile = z.output<typeof inventoryFileSchema>;

/** A loaded inventory: immutable; a reload builds a new one. */
export class Inventory {
  /** The file it was loaded from. */
  readonly source: string;
  /** First 16 hex digits of the SHA-256 of the file bytes. */
  readonly revision: string;
  /** Number of identities. */
  readonly size: number;
  private readonly trustDomains: ReadonlySet<string>;
  private readonly byKey = new Map<string, IdentityMatch>();
  private readonly all: readonly IdentityMatch[];

  /** Expects a document already checked by `inventoryFileSchema` and for duplicates; use loadInventory. */
  constructor(file: InventoryFile, meta: { readonly source: string; readonly revision: string }) {
    this.source = meta.source;
    this.revision = meta.revision;
    this.trustDomains = new Set(file.spiffe_trust_domains);
    this.all = Object.freeze(
      file.identities.map((entry) => {
        const match: IdentityMatch = Object.freeze({
          id: entry.id,
          type: entry.type,
          owner: entry.owner,
          team: entry.team,
          tier: entry.tier,
        });
        for (const key of [entry.id, ...entry.keys]) this.byKey.set(normaliseIdentityKey(key, this.trustDomains), match);
        return match;
      }),
    );
    this.size = this.all.length;
  }

  /** The identity an actor key refers to (see normaliseIdentityKey for what counts as the same key). */
  resolve(actorKey: string): IdentityMatch | undefined {
    return this.byKey.get(normaliseIdentityKey(actorKey, this.trustDomains));
  }

  /** Every identity, in file order. */
  identities(): readonly IdentityMatch[] {
    return this.all;
  }
}

/**
 * Reads, validates and indexes an inventory file. Throws a ConfigError naming the file and listing every
 * problem as "yaml.path: message", duplicate ids and keys shared by two identities included.
 */
export function loadInventory(path: string): Inventory {
  const file = readDataFile(path);
  return parseInventory(file.raw, { source: file.source, revision: file.revision });
}

/** Validates an already parsed inventory document; `source` names it in errors. */
export function parseInventory(raw: unknown, meta: { readonly source: string; readonly revision: string }): Inventory {
  const result = inventoryFileSchema.safeParse(raw);
  const problems = [...(result.success ? [] : formatIssues(result.error)), ...duplicateProblems(raw)];
  if (!result.success || problems.length > 0) throw new ConfigError(meta.source, problems);
  return new Inventory(result.data, meta);
}

/**
 * Duplicate ids, and keys that refer to two identities. Read leniently from the raw document so these
 * are reported together with schema problems, not one round of fixes later.
 */
function duplicateProblems(raw: unknown): string[] {
  if (!isRecord(raw) || !Array.isArray(raw.identities)) return [];
  const trustDomains = new Set<string>();
  for (const entry of Array.isArray(raw.spiffe_trust_domains) ? raw.spiffe_trust_domains : []) {
    const name = typeof entry === 'string' ? normaliseTrustDomain(entry) : undefined;
    if (name !== undefined) trustDomains.add(name);
  }
  const problems: string[] = [];
  const firstIndexOfId = new Map<string, number>();
  const holders = new Map<string, { readonly id: string; readonly path: string }>();
  raw.identities.forEach((entry: unknown, index) => {
    if (!isRecord(entry) || typeof entry.id !== 'string' || entry.id.trim() === '') return;
    const id = entry.id.trim();
    const first = firstIndexOfId.get(id);
    if (first !== undefined) {
      problems.push(`identities.${index}.id: duplicate id "${id}" (first at identities.${first})`);
      return;
    }
    firstIndexOfId.set(id, index);
    const keys: Array<readonly [string, unknown]> = [[`identities.${index}.id`, id]];
    if (Array.isArray(entry.keys)) entry.keys.forEach((key: unknown, k) => keys.push([`identities.${index}.keys.${k}`, key]));
    for (const [path, key] of keys) {
      if (typeof key !== 'string' || key.trim() === '') continue;
      const matchKey = normaliseIdentityKey(key, trustDomains);
      const holder = holders.get(matchKey);
      if (holder === undefined) holders.set(matchKey, { id, path });
      else if (holder.id !== id) {
        problems.push(`${path}: key "${key.trim()}" refers to both "${holder.id}" (${holder.path}) and "${id}"`);
      }
    }
  });
  return problems;
}
