import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';

/** Version of the canonical form hashed into the chain; bump when what is hashed changes. */
export const CANONICALIZATION_VERSION = 1;

/** RFC 8785 (JCS) canonical JSON. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return text;
}

export function sha256Hex(data: string | Uint8Array): string {
  // One-shot hashing: a Hash object per span digest was a visible share of judging a run.
  return hash('sha256', data, 'hex');
}
