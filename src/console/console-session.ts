import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'runledger_console';
const SESSION_MS = 12 * 3600_000;

/**
 * Browser sessions of the console. A browser cannot add `Authorization: Bearer` to a page load, so an
 * auditor signs in once with the API token and gets a cookie that names only an expiry and a MAC under
 * a key born with this process: the token itself is never stored in the browser, and a restart signs
 * everyone out.
 */
export class ConsoleSessions {
  private readonly key = randomBytes(32);

  issue(nowMs = Date.now()): { value: string; maxAgeSeconds: number } {
    const expires = nowMs + SESSION_MS;
    return { value: `${expires}.${this.mac(expires)}`, maxAgeSeconds: SESSION_MS / 1000 };
  }

  accepts(cookieHeader: string | undefined, nowMs = Date.now()): boolean {
    const value = cookieValue(cookieHeader, SESSION_COOKIE);
    const match = /^(\d{1,15})\.([0-9a-f]{64})$/.exec(value ?? '');
    if (match === null) return false;
    const expires = Number(match[1]);
    return expires > nowMs && timingSafeEqual(Buffer.from(match[2]!, 'hex'), Buffer.from(this.mac(expires), 'hex'));
  }

  private mac(expires: number): string {
    return createHmac('sha256', this.key).update(`console-session:${expires}`).digest('hex');
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
