import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../../src/integrity/canonical.js';
import { recordDigest, revisionPayloadJson } from '../../src/integrity/chain-entry.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/integrity/signing.js';
import { ChainWriter } from '../../src/integrity/chain-writer.js';
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
  /** The chain as verify reads it. */
  readonly chain: ChainStore;
  /** Appends to it, signed with `key`. */
  readonly writer: ChainWriter;
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
  /** Finding codes of the revision (recorded in its record and in run_findings). */
  readonly findings?: readonly string[];
  /** A trigger event the run claims (recorded in its record and in trigger_events). */
  readonly triggerEvent?: string;
}

export const ORIGIN = 'runledger-unit';

let counter = 0;

export function createChainFixture(keyPath?: string): ChainFixture {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-chain-'));
  const dbPath = join(dir, 'runledger.db');
  const db = openDatabase({ path: dbPath, synchronous: 'normal', busy_timeout_ms: 1000 });
  const key = loadOrCreateSigningKey(keyPath ?? join(dir, 'signing-key.pem'));
  const chain = new ChainStore(db);
  const writer = new ChainWriter(chain, key, ORIGIN);
  db.prepare("INSERT INTO resources (id, digest, body, schema_url) VALUES (1, x'01', x'0a00', '')").run();
  db.prepare("INSERT INTO scopes (id, digest, body, schema_url) VALUES (1, x'01', x'0a00', '')").run();

  const addRevision = (runKey: string, options: RevisionOptions = {}): number => {
    const evaluatedNs = options.evaluatedNs ?? BigInt(Date.now()) * 1_000_000n;
    return db.transaction(() => {
      const previous = db.prepare('SELECT revision FROM runs WHERE run_key = ?').pluck().get(runKey) as number | undefined;
      const revision = (previous ?? 0) + 1;
      const traceId = randomBytes(16).toString('hex');
      const spans: Array<[string, string, string]> = [];
      const runStartNs = BigInt(++counter) * 1_000_000n;
      for (let i = 0; i < (options.spans ?? 2); i++) {
        const spanId = randomBytes(8).toString('hex');
        const body = randomBytes(24);
        const startNs = runStartNs + BigInt(i);
        db.prepare(
          `INSERT INTO spans (run_key, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
             resource_id, scope_id, body, received_ns)
           VALUES (?, ?, ?, '', ?, 1, ?, ?, 0, 1, 1, ?, ?)`,
        ).run(runKey, traceId, spanId, `step ${i}`, startNs, startNs + 1n, body, evaluatedNs);
        spans.push([traceId, spanId, sha256Hex(body)]);
      }
      const findings = options.findings ?? [];
      const status = findings.length === 0 ? 'compliant' : 'incomplete';
      const startedNs = spans.length > 0 ? runStartNs : null;
      const record = JSON.stringify({
        run_id: runKey,
        revision,
        workflow: 'unit-workflow',
        kind: options.kind ?? null,
        status,
        outcome: 'complete',
        actor: { id: 'unit-actor' },
        definition: null,
        started_at: startedNs === null ? null : new Date(Number(startedNs / 1_000_000n)).toISOString(),
        findings: findings.map((code) => ({ code })),
        claims: { trigger_event: options.triggerEvent ?? null, decision_ids: [], definition: null },
        evaluated_at: new Date(Number(evaluatedNs / 1_000_000n)).toISOString(),
      });
      db.prepare(
        `INSERT INTO run_revisions (run_key, revision, evaluated_ns, reason, status, outcome, record)
         VALUES (?, ?, ?, 'settled', ?, 'complete', ?)`,
      ).run(runKey, revision, evaluatedNs, status, record);
      db.prepare(
        `INSERT INTO runs (run_key, state, first_received_ns, last_received_ns, has_root, span_count, revision, workflow, kind, status,
           outcome, actor_id, started_ns, evaluated_ns)
         VALUES (@run_key, 'evaluated', @ns, @ns, 1, @count, @revision, 'unit-workflow', @kind, @status, 'complete', 'unit-actor', @started_ns, @ns)
         ON CONFLICT (run_key) DO UPDATE SET revision = @revision, kind = @kind, status = @status, started_ns = @started_ns,
           evaluated_ns = @ns, span_count = span_count + @count`,
      ).run({ run_key: runKey, ns: evaluatedNs, count: spans.length, revision, kind: options.kind ?? null, status, started_ns: startedNs });
      for (const code of findings) {
        db.prepare('INSERT INTO run_findings (run_key, revision, code, started_ns) VALUES (?, ?, ?, ?)').run(runKey, revision, code, startedNs);
      }
      if (options.triggerEvent !== undefined) {
        db.prepare('INSERT OR IGNORE INTO trigger_events (event_key, run_key, claimed_ns) VALUES (?, ?, ?)').run(options.triggerEvent, runKey, startedNs ?? evaluatedNs);
      }
      const payload = revisionPayloadJson({ run_key: runKey, revision, record_sha256: recordDigest(record), spans });
      return writer.appendRevision(runKey, revision, evaluatedNs, payload).seq;
    })();
  };

  return {
    dir,
    dbPath,
    db,
    key,
    chain,
    writer,
    addRevision,
    seqOf: (runKey, revision = 1) =>
      Number(db.prepare("SELECT seq FROM chain WHERE kind = 'revision' AND run_key = ? AND revision = ?").pluck().get(runKey, revision)),
    close: () => {
      if (db.open) db.close();
    },
  };
}
