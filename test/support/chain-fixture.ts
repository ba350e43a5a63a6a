import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../../src/integrity/canonical.js';
import { recordDigest } from '../../src/integrity/chain-entry.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/integrity/signing.js';
import { ChainStore } from '../../src/store/chain-store.js';
import { openDatabase, type Database } from '../../src/store/database.js';

/**
 * A real SQLite store (temp dir, migrations applied) with a signing key and a chain, filled the way
 * RunStore fills it: each revision inserts its record and spans and appends a chained revision row
 * in one transaction. For unit tests of verify and pruning without the evaluation pipeline.
 */
export interface ChainFixture {
  readonly dir: string;
  readonly dbPath: string;
  readonly db: Database;
  readonly key: SigningKey;
  readonly chain: ChainStore;
  /** Adds an evaluated run (revision 1, or the next revision when it exists); returns its chain seq. */
  addRevision(runKey: string, options?: RevisionOptions): number;
  /** Seq of the chain row of a run's revision. */
  seqOf(runKey: string, revision?: number): number;
  close(): void;
}

export interface RevisionOptions {
  readonly kind?: string | null;
  readonly evaluatedNs?: bigint;
  readonly spans?: number;
}

export const ORIGIN = 'runledger-unit';

let counter = 0;

export function createChainFixture(keyPath?: string): ChainFixture {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-chain-'));
  const dbPath = join(dir, 'runledger.db');
  const db = openDatabase({ path: dbPath, synchronous: 'normal', busy_timeout_ms: 1000 });
  const key = loadOrCreateSigningKey(keyPath ?? join(dir, 'signing-key.pem'));
  const chain = new ChainStore(db, key, ORIGIN);
  db.prepare("INSERT INTO resources (id, digest, body, schema_url) VALUES (1, x'01', x'0a00', '')").run();
  db.prepare("INSERT INTO scopes (id, digest, body, schema_url) VALUES (1, x'01', x'0a00', '')").run();

  const addRevision = (runKey: string, options: RevisionOptions = {}): number => {
    const evaluatedNs = options.evaluatedNs ?? BigInt(Date.now()) * 1_000_000n;
    return db.transaction(() => {
      const previous = db.prepare('SELECT revision FROM runs WHERE run_key = ?').pluck().get(runKey) as number | undefined;
      const revision = (previous ?? 0) + 1;
      const traceId = randomBytes(16).toString('hex');
      const spans: Array<[string, string, string]> = [];
      for (let i = 0; i < (options.spans ?? 2); i++) {
        const spanId = randomBytes(8).toString('hex');
        const body = randomBytes(24);
        const startNs = BigInt(++counter);
        db.prepare(
          `INSERT INTO spans (run_key, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
             resource_id, scope_id, body, received_ns)
           VALUES (?, ?, ?, '', ?, 1, ?, ?, 0, 1, 1, ?, ?)`,
        ).run(runKey, traceId, spanId, `step ${i}`, startNs, startNs + 1n, body, evaluatedNs);
        spans.push([traceId, spanId, sha256Hex(body)]);
      }
      const record = JSON.stringify({
        run_id: runKey,
        revision,
        status: 'compliant',
        outcome: 'complete',
        findings: [],
        evaluated_at: new Date(Number(evaluatedNs / 1_000_000n)).toISOString(),
      });
      db.prepare(
        `INSERT INTO run_revisions (run_key, revision, evaluated_ns, reason, status, outcome, record)
         VALUES (?, ?, ?, 'settled', 'compliant', 'complete', ?)`,
      ).run(runKey, revision, evaluatedNs, record);
      db.prepare(
        `INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count, revision, kind, evaluated_ns)
         VALUES (@run_key, 'evaluated', @ns, @ns, 1, @count, @revision, @kind, @ns)
         ON CONFLICT (run_key) DO UPDATE SET revision = @revision, evaluated_ns = @ns, span_count = span_count + @count`,
      ).run({ run_key: runKey, ns: evaluatedNs, count: spans.length, revision, kind: options.kind ?? null });
      return chain.appendRevision({ run_key: runKey, revision, record_sha256: recordDigest(record), spans }, evaluatedNs).seq;
    })();
  };

  return {
    dir,
    dbPath,
    db,
    key,
    chain,
    addRevision,
    seqOf: (runKey, revision = 1) =>
      Number(db.prepare("SELECT seq FROM chain WHERE kind = 'revision' AND run_key = ? AND revision = ?").pluck().get(runKey, revision)),
    close: () => {
      if (db.open) db.close();
    },
  };
}
