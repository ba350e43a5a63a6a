import { readFileSync } from 'node:fs';

/** runledger's version, from package.json (one source). */
export const RUNLEDGER_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
