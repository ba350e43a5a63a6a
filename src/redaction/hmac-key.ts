import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createKeyFile } from '../key-file.js';

/**
 * The redaction key: read from the file (64 hex characters, or raw bytes), or created there with
 * 32 random bytes (mode 0600) on first start. Keeping it makes equal secrets hash alike over time.
 */
export function loadOrCreateHmacKey(path: string): Buffer {
  if (!existsSync(path)) createKeyFile(path, `${randomBytes(32).toString('hex')}\n`, 0o600);
  const raw = readFileSync(path);
  const text = raw.toString('utf8').trim();
  return /^[0-9a-fA-F]{64,}$/.test(text) ? Buffer.from(text, 'hex') : raw;
}
