import { existsSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { loadPublicKey } from '../integrity/signing.js';
import { verifyChain, type VerifyReport } from '../integrity/verify.js';
import { ChainStore } from '../store/chain-store.js';
import { openDatabase } from '../store/database.js';

/** `runledger verify`: walks the chain with the trusted public keys. */
export function runVerify(config: Readonly<Config>, options: { from?: number; publicKeys: string[] }): VerifyReport {
  const keyFiles = options.publicKeys.length > 0 ? options.publicKeys : defaultPublicKey(config);
  const publicKeys: KeyObject[] = keyFiles.map(loadPublicKey);
  const db = openDatabase(config.storage.sqlite, { readonly: true });
  try {
    // One read transaction: while serve runs, the chain and the index are compared at one instant
    // (a revision committed between the two reads would look unchained or mismatched).
    return db.transaction(() =>
      verifyChain(new ChainStore(db), {
        publicKeys,
        ...(options.from !== undefined ? { fromSeq: options.from } : {}),
      }),
    )();
  } finally {
    db.close();
  }
}

function defaultPublicKey(config: Readonly<Config>): string[] {
  const path = `${config.integrity.signing_key_file}.pub`;
  if (!existsSync(path)) throw new Error(`no public key given and ${path} does not exist: pass --public-key FILE`);
  return [path];
}

export function formatVerifyReport(report: VerifyReport): string {
  const lines = [
    `${report.intact ? 'INTACT' : 'PROBLEMS FOUND'}: ${report.records_checked} chain records, ${report.revisions_checked} run revisions, ${report.checkpoints_checked} checkpoints checked; head ${report.head.seq} ${report.head.hash}`,
  ];
  for (const p of report.problems) lines.push(`  ${p.kind.padEnd(19)} ${p.seq !== undefined ? `seq ${p.seq}: ` : ''}${p.message}`);
  return lines.join('\n');
}
