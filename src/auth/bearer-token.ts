import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Checks `Authorization: Bearer <token>` against a token read from a file. Compares SHA-256 digests
 * in constant time, so neither the token's content nor its length leaks through timing.
 */
export class BearerTokenCheck {
  private readonly expected: Buffer;

  constructor(tokenFile: string) {
    const token = readFileSync(tokenFile, 'utf8').trim();
    if (token.length < 16) throw new Error(`${tokenFile}: bearer token must be at least 16 characters`);
    this.expected = digest(token);
  }

  accepts(authorization: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const presented = digest(match?.[1] ?? '');
    return timingSafeEqual(presented, this.expected) && match !== null;
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
