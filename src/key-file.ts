import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Creates a key file whole or not at all, unless another process created it first; returns whether
 * this call created it (if not, the caller reads the one that is there). The content goes to a
 * temporary file beside it and is then linked into place, which fails when the path exists. Writing
 * the path itself with `wx` let two runledger processes starting on one data directory race: the
 * second failed to start on EEXIST, or could read the first one's file half-written.
 */
export function createKeyFile(path: string, content: string, mode: number): boolean {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, content, { mode, flag: 'wx' });
  try {
    linkSync(temporary, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(temporary, { force: true });
  }
}
