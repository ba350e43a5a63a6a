import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBundleOffline, chainRecordHash, type EvidenceBundle } from '../support/evidence-check.js';
import { createOtelSender } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { runledgerCli, waitForRuns } from '../support/runs-cli.js';
import { copyStore, problemKinds, tamper, verifyStore, type StoreCopy } from '../support/store-copies.js';
import { readDb } from '../support/stored-spans.js';
import { change, decision, emitRun, newRunId, workflowRoot, type EmittedRun, type RunFields } from '../support/workflows.js';
import { PATIENCE_MS } from '../support/patience.js';

/**
 * DESIGN §7 end to end: real OTel traffic builds a chained, checkpointed store; `runledger verify`
 * passes it untouched and names each way an attacker with write access to the file can change it
 * (always on copies, so every case starts from the same store); restart, key change and pruning are
 * declared, not hidden; the evidence bundle proves a run offline.
 */

const keysDir = mkdtempSync(join(tmpdir(), 'runledger-keys-'));
const KEY_FILE = join(keysDir, 'signing-key.pem');
const ORIGIN = 'e2e-integrity';
const integrity = { signing_key_file: KEY_FILE, origin: ORIGIN, checkpoint_every_records: 1, checkpoint_interval_seconds: 3600 };
const config = { runs: { settle_ms: 100 }, integrity };

const rotation = (label: string): RunFields => ({
  runId: newRunId(label),
  workflow: 'e2e-integrity-rotate',
  kind: 'secret_rotation',
  result: 'success',
  triggerKind: 'schedule',
  eventSource: 'scheduler',
  eventId: `evt-${label}`,
  actorId: 'system:serviceaccount:secrets:rotator',
  actorType: 'service_account',
});
const steps = [decision('rotation.window', 'allow'), change('create', 'vault:kv/smtp#v5'), change('revoke', 'vault:kv/smtp#v4')];

interface ChainRowView {
  seq: number;
  kind: string;
  run_key: string | null;
  revision: number | null;
  created_ns: bigint;
  payload: string;
  prev_hash: string;
  record_hash: string;
}

const chainRows = (dbPath: string): ChainRowView[] =>
  readDb(dbPath, (db) => db.prepare('SELECT * FROM chain ORDER BY seq').safeIntegers(true).all() as Array<ChainRowView & { seq: bigint; revision: bigint | null }>).map(
    (r) => ({ ...r, seq: Number(r.seq), revision: r.revision === null ? null : Number(r.revision) }),
  );

const keyIdOf = (publicKey: KeyObject) =>
  createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);

async function fetchEvidence(httpUrl: string, runId: string, minCheckpointSize: number): Promise<EvidenceBundle> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const response = await fetch(`${httpUrl}/api/v1/runs/${encodeURIComponent(runId)}/evidence`);
    expect(response.status).toBe(200);
    const bundle = (await response.json()) as EvidenceBundle;
    // The checkpoint is written right after the evaluation commits: wait for the one covering it.
    if ((bundle.integrity.checkpoint?.size ?? 0) >= minCheckpointSize) return bundle;
    if (Date.now() > deadline) throw new Error(`no checkpoint covers seq ${minCheckpointSize} in the evidence of ${runId}`);
    await sleep(50);
  }
}

describe.concurrent('integrity: hash chain, signed checkpoints, verify and evidence', () => {
  const runs = [rotation('chain-a'), rotation('chain-b'), rotation('chain-c'), rotation('chain-d')];
  const ids = runs.map((r) => r.runId!);
  const [A, B, C, D] = ids as [string, string, string, string];
  const started: RunledgerProcess[] = [];
  let dbPath: string;
  let exitCode: number | string;
  let evaluatedAt: number;
  let httpBundle: EvidenceBundle;
  let rows: ChainRowView[];
  const seqOf = (runKey: string, revision = 1) => rows.find((r) => r.kind === 'revision' && r.run_key === runKey && r.revision === revision)!.seq;
  const copy = () => copyStore(dbPath, integrity);

  beforeAll(async () => {
    const runledger = await startRunledger({ config });
    started.push(runledger);
    dbPath = runledger.dbPath;
    const sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-integrity' });
    try {
      const emitted: EmittedRun[] = runs.map((fields) => emitRun(sender.tracer, workflowRoot(fields, steps)));
      await sender.flush();
      await waitForRuns(dbPath, ids);
      // A late span amends run A: revision 2, chained after the other runs.
      emitRun(sender.tracer, change('verify', 'svc:mailer'), { parent: emitted[0]!.rootContext });
      await sender.flush();
      await waitForRuns(dbPath, [A], { minRevision: 2 });
      evaluatedAt = Date.now();
      const head = chainRows(dbPath).at(-1)!.seq;
      httpBundle = await fetchEvidence(runledger.httpUrl, A, head);
    } finally {
      await sender.shutdown();
      exitCode = await runledger.stop('SIGTERM');
    }
    rows = chainRows(dbPath);
  });

  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
  });

  it('chains a start record and every evaluated revision, and signs a checkpoint over the head', () => {
    expect(exitCode).toBe(0);
    expect(rows.map((r) => r.kind)).toEqual(['chain_start', 'revision', 'revision', 'revision', 'revision', 'revision']);
    expect(rows.at(-1)).toMatchObject({ kind: 'revision', run_key: A, revision: 2 });
    expect(new Set(rows.slice(1, 5).map((r) => r.run_key))).toEqual(new Set(ids));
    const checkpoints = readDb(dbPath, (db) => db.prepare('SELECT size, head_hash, origin, body FROM checkpoints ORDER BY id').all()) as Array<{
      size: number;
      head_hash: string;
      origin: string;
      body: string;
    }>;
    expect(checkpoints.at(-1)).toMatchObject({ size: 6, head_hash: rows.at(-1)!.record_hash, origin: ORIGIN });
    expect(checkpoints.at(-1)!.body).toMatch(new RegExp(`^${ORIGIN}\\n6\\n[A-Za-z0-9+/=]+\\ntime \\S+\\n$`));
  });

  it('verifies an untouched store as intact (exit 0)', async () => {
    const { code, report } = await verifyStore(copy().configPath);
    expect(report).toMatchObject({ intact: true, records_checked: 6, revisions_checked: 5, problems: [] });
    expect(report.checkpoints_checked).toBeGreaterThanOrEqual(2);
    expect(report.head).toEqual({ seq: 6, hash: rows.at(-1)!.record_hash });
    expect(code).toBe(0);

    const text = await runledgerCli(['verify', '--config', copy().configPath]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^INTACT: 6 chain records, 5 run revisions/);
  });

  it('verifies from a given seq', async () => {
    const { code, report } = await verifyStore(copy().configPath, ['--from', '4']);
    expect(report).toMatchObject({ intact: true, records_checked: 3, problems: [] });
    expect(code).toBe(0);
  });

  describe.concurrent('names each kind of tampering', () => {
    const tampered = async (edit: Parameters<typeof tamper>[1]) => {
      const store: StoreCopy = copy();
      tamper(store.dbPath, edit);
      const outcome = await verifyStore(store.configPath);
      expect(outcome.code).toBe(1);
      expect(outcome.report.intact).toBe(false);
      return outcome.report;
    };

    it('a value edited in a run revision record → record_altered', async () => {
      const report = await tampered((db) =>
        db.prepare("UPDATE run_revisions SET record = json_set(record, '$.actor.id', 'someone-else') WHERE run_key = ?").run(B),
      );
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'record_altered', seq: seqOf(B), run_id: B, revision: 1 })]);
    });

    it('one byte of a stored span body edited → record_altered', async () => {
      const report = await tampered((db) => {
        const { id, body } = db.prepare('SELECT id, body FROM spans WHERE run_key = ? LIMIT 1').get(C) as { id: number; body: Buffer };
        body[body.length - 1] ^= 0x01;
        db.prepare('UPDATE spans SET body = ? WHERE id = ?').run(body, id);
      });
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'record_altered', run_id: C, message: expect.stringMatching(/^span .* was altered$/) })]);
    });

    it('a run deleted (every row: revisions, findings, claims, spans, index) → run_deleted', async () => {
      const report = await tampered((db) => {
        for (const table of ['run_revisions', 'run_findings', 'trigger_events', 'decision_ids', 'spans', 'trace_runs', 'runs']) {
          db.prepare(`DELETE FROM ${table} WHERE run_key = ?`).run(D);
        }
      });
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'run_deleted', seq: seqOf(D), run_id: D })]);
    });

    it('a run index row flipped to another status (runs list now lists it there) → index_mismatch naming the run', async () => {
      const store = copy();
      const sealed = readDb(store.dbPath, (db) => db.prepare('SELECT status FROM runs WHERE run_key = ?').pluck().get(B)) as string;
      const flipped = sealed === 'compliant' ? 'violation' : 'compliant';
      tamper(store.dbPath, (db) => db.prepare('UPDATE runs SET status = ? WHERE run_key = ?').run(flipped, B));
      // What an auditor's query now answers: the edit works on every listing...
      const listed = await runledgerCli(['runs', 'list', '--config', store.configPath, '--status', flipped, '--json']);
      expect((JSON.parse(listed.stdout) as Array<{ run_id: string }>).map((r) => r.run_id)).toContain(B);
      // ...and verify names the row.
      const { code, report } = await verifyStore(store.configPath);
      expect(code).toBe(1);
      expect(report.problems).toEqual([
        expect.objectContaining({
          kind: 'index_mismatch',
          run_id: B,
          revision: 1,
          message: `runs row of run ${B} says status ${flipped}, its sealed revision 1 says ${sealed}`,
        }),
      ]);
    });

    it("a run's findings deleted from run_findings (it vanishes from --finding) → index_mismatch", async () => {
      const report = await tampered((db) => db.prepare('DELETE FROM run_findings WHERE run_key = ?').run(C));
      expect(problemKinds(report)).toEqual(['index_mismatch']);
      expect(new Set(report.problems.map((p) => p.run_id))).toEqual(new Set([C]));
    });

    it("a run's trigger claim deleted (its replay would pass) or forged onto another run → index_mismatch", async () => {
      const report = await tampered((db) => {
        db.prepare('DELETE FROM trigger_events WHERE run_key = ?').run(B);
        db.prepare('UPDATE trigger_events SET run_key = ? WHERE run_key = ?').run(D, C);
      });
      expect(problemKinds(report)).toEqual(['index_mismatch']);
      expect(report.problems.map((p) => p.run_id).sort()).toEqual([B, C, D].sort());
    });

    it("two runs' records swapped → reordered", async () => {
      const report = await tampered((db) => {
        const recordOf = (run: string) => db.prepare('SELECT record FROM run_revisions WHERE run_key = ? AND revision = 1').pluck().get(run) as string;
        const [b, c] = [recordOf(B), recordOf(C)];
        const update = db.prepare('UPDATE run_revisions SET record = ? WHERE run_key = ? AND revision = 1');
        update.run(c, B);
        update.run(b, C);
      });
      expect(problemKinds(report)).toEqual(['reordered']);
      expect(report.problems.map((p) => p.run_id).sort()).toEqual([B, C].sort());
    });

    it('a forged run revision inserted beside the chain → record_unchained', async () => {
      const report = await tampered((db) => {
        const record = db.prepare('SELECT record FROM run_revisions WHERE run_key = ? AND revision = 1').pluck().get(B) as string;
        db.prepare(
          `INSERT INTO run_revisions (run_key, revision, evaluated_ns, reason, status, outcome, record)
           SELECT 'forged-run', 1, evaluated_ns, reason, status, outcome, ? FROM run_revisions WHERE run_key = ? AND revision = 1`,
        ).run(record.replaceAll(B, 'forged-run'), B);
      });
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'record_unchained', run_id: 'forged-run', revision: 1 })]);
    });

    it("a chain row's run column pointed at another run (hiding it from that run's evidence) → record_altered", async () => {
      const report = await tampered((db) => db.prepare('UPDATE chain SET run_key = ? WHERE seq = ?').run(C, seqOf(B)));
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'record_altered', seq: seqOf(B) })]);
    });

    it('two chain rows swapped in place → reordered', async () => {
      const report = await tampered((db) => {
        const columns = 'kind, run_key, revision, created_ns, payload, prev_hash, record_hash, key_id, signature';
        const [three, four] = [3, 4].map((seq) => db.prepare(`SELECT ${columns} FROM chain WHERE seq = ?`).safeIntegers(true).get(seq) as Record<string, unknown>);
        const put = db.prepare(
          'UPDATE chain SET kind = @kind, run_key = @run_key, revision = @revision, created_ns = @created_ns, payload = @payload, prev_hash = @prev_hash, record_hash = @record_hash, key_id = @key_id, signature = @signature WHERE seq = @seq',
        );
        put.run({ ...four, seq: 3 });
        put.run({ ...three, seq: 4 });
      });
      // A checkpoint signed at size 3 (written whenever its interval came round) covered the first swapped
      // row, so it no longer matches either; nothing else may be reported.
      const kinds = problemKinds(report);
      expect(kinds).toContain('reordered');
      expect(kinds.filter((kind) => kind !== 'reordered' && kind !== 'checkpoint_mismatch')).toEqual([]);
      expect(report.problems).toContainEqual(expect.objectContaining({ seq: 3, message: 'chain record 3 (revision) was sealed as record 4' }));
    });

    it('chain rows deleted in the middle → record_missing', async () => {
      const report = await tampered((db) => db.prepare('DELETE FROM chain WHERE seq IN (3, 4)').run());
      expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'record_missing', seq: 3 }));
    });

    it('the tail cut off (last chain rows and their revisions) → truncated, by the signed checkpoint', async () => {
      const report = await tampered((db) => {
        db.prepare('DELETE FROM chain WHERE seq = 6').run();
        db.prepare('DELETE FROM run_revisions WHERE run_key = ? AND revision = 2').run(A);
        db.prepare("UPDATE runs SET revision = 1 WHERE run_key = ?").run(A);
      });
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'truncated', seq: 6 })]);
      expect(report.head.seq).toBe(5);
    });

    it('a record edited and the chain re-hashed after it → the signed checkpoint no longer matches', async () => {
      const report = await tampered((db) => {
        db.prepare("UPDATE run_revisions SET record = json_set(record, '$.status', 'compliant') WHERE run_key = ? AND revision = 1").run(B);
        db.prepare("UPDATE runs SET status = 'compliant' WHERE run_key = ?").run(B); // the index too, or index_mismatch names it
        const record = db.prepare('SELECT record FROM run_revisions WHERE run_key = ? AND revision = 1').pluck().get(B) as string;
        let prev = rows.find((r) => r.seq === seqOf(B) - 1)!.record_hash;
        for (const row of rows.filter((r) => r.seq >= seqOf(B))) {
          let payload = row.payload;
          if (row.seq === seqOf(B)) {
            const parsed = JSON.parse(payload) as { record_sha256: string };
            // The chain covers the record's stored bytes.
            parsed.record_sha256 = createHash('sha256').update(record).digest('hex');
            payload = JSON.stringify(parsed);
          }
          const record_hash = chainRecordHash({ ...row, payload, prev_hash: prev });
          db.prepare('UPDATE chain SET payload = ?, prev_hash = ?, record_hash = ? WHERE seq = ?').run(payload, prev, record_hash, row.seq);
          prev = record_hash;
        }
      });
      expect(problemKinds(report)).toEqual(['checkpoint_mismatch']);
    });

    it("a checkpoint's signed body changed to name another head → checkpoint_forged and checkpoint_mismatch", async () => {
      const report = await tampered((db) => {
        const row5 = rows.find((r) => r.seq === 5)!;
        db.prepare('UPDATE checkpoints SET body = ? WHERE size = 6').run(
          `${ORIGIN}\n6\n${Buffer.from(row5.record_hash, 'hex').toString('base64')}\ntime ${new Date().toISOString()}\n`,
        );
      });
      expect(problemKinds(report)).toEqual(['checkpoint_forged', 'checkpoint_mismatch']);
    });

    it('a checkpoint forged over a shorter chain, with a signature copied from a real one → checkpoint_forged', async () => {
      const report = await tampered((db) => {
        const real = db.prepare('SELECT key_id, signature FROM checkpoints WHERE size = 6 LIMIT 1').get() as { key_id: string; signature: string };
        const head = rows.find((r) => r.seq === 3)!.record_hash;
        const body = `${ORIGIN}\n3\n${Buffer.from(head, 'hex').toString('base64')}\ntime ${new Date().toISOString()}\n`;
        db.prepare('INSERT INTO checkpoints (size, head_hash, created_ns, origin, key_id, body, signature) VALUES (3, ?, 1, ?, ?, ?, ?)').run(
          head,
          ORIGIN,
          real.key_id,
          body,
          real.signature,
        );
      });
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'checkpoint_forged', message: expect.stringContaining('at size 3 has an invalid signature') })]);
    });

    it("a checkpoint's signature replaced → checkpoint_forged", async () => {
      const report = await tampered((db) => {
        const body = db.prepare('SELECT body FROM checkpoints WHERE size = 6 LIMIT 1').pluck().get() as string;
        const forged = sign(null, Buffer.from(body), generateKeyPairSync('ed25519').privateKey).toString('base64');
        db.prepare('UPDATE checkpoints SET signature = ? WHERE size = 6').run(forged);
      });
      expect(problemKinds(report)).toEqual(['checkpoint_forged']);
    });

    it("a checkpoint's head column changed → checkpoint_mismatch", async () => {
      const report = await tampered((db) => db.prepare('UPDATE checkpoints SET head_hash = ? WHERE size = 6').run('ab'.repeat(32)));
      expect(problemKinds(report)).toEqual(['checkpoint_mismatch']);
    });

    it('checkpoints and signed rows re-signed with an attacker key → unknown_key', async () => {
      const attacker = generateKeyPairSync('ed25519');
      const report = await tampered((db) => {
        const attackerId = keyIdOf(attacker.publicKey);
        for (const cp of db.prepare('SELECT id, body FROM checkpoints').all() as Array<{ id: number; body: string }>) {
          const signature = sign(null, Buffer.from(cp.body), attacker.privateKey).toString('base64');
          db.prepare('UPDATE checkpoints SET key_id = ?, signature = ? WHERE id = ?').run(attackerId, signature, cp.id);
        }
        const start = rows[0]!;
        db.prepare('UPDATE chain SET key_id = ?, signature = ? WHERE seq = 1').run(
          attackerId,
          sign(null, Buffer.from(start.record_hash), attacker.privateKey).toString('base64'),
        );
      });
      expect(problemKinds(report)).toEqual(['unknown_key']);
    });
  });

  // The attacker holds the file: they swap the key pair beside the store and re-sign everything. The
  // store alone then proves nothing about who signed it; the auditor's own copy of the key does.
  it('a swapped public key (key pair replaced, every signature redone) → unknown_key against the auditor\'s copy', async () => {
    const store = copy();
    const attacker = generateKeyPairSync('ed25519');
    const attackerId = keyIdOf(attacker.publicKey);
    const swappedKey = join(store.dir, 'signing-key.pem');
    writeFileSync(swappedKey, attacker.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(`${swappedKey}.pub`, attacker.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(store.configPath, `storage: {sqlite: {path: ${store.dbPath}}}\nintegrity: {signing_key_file: ${swappedKey}, origin: ${ORIGIN}}\n`);
    tamper(store.dbPath, (db) => {
      for (const cp of db.prepare('SELECT id, body FROM checkpoints').all() as Array<{ id: number; body: string }>) {
        db.prepare('UPDATE checkpoints SET key_id = ?, signature = ? WHERE id = ?').run(attackerId, sign(null, Buffer.from(cp.body), attacker.privateKey).toString('base64'), cp.id);
      }
      for (const row of db.prepare('SELECT seq, record_hash FROM chain WHERE signature IS NOT NULL').all() as Array<{ seq: number; record_hash: string }>) {
        db.prepare('UPDATE chain SET key_id = ?, signature = ? WHERE seq = ?').run(attackerId, sign(null, Buffer.from(row.record_hash), attacker.privateKey).toString('base64'), row.seq);
      }
    });
    expect((await verifyStore(store.configPath)).code).toBe(0); // trusting the swapped .pub: nothing to see
    const { code, report } = await verifyStore(store.configPath, ['--public-key', `${KEY_FILE}.pub`]);
    expect(code).toBe(1);
    expect(problemKinds(report)).toEqual(['unknown_key']);
    expect(report.problems[0]!.message).toContain(`signed by key ${attackerId}, which is not a trusted key`);
  });

  it('fails (exit 1, unknown_key) when the auditor trusts only another public key', async () => {
    const otherPub = join(mkdtempSync(join(tmpdir(), 'runledger-other-key-')), 'other.pub');
    writeFileSync(otherPub, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const { code, report } = await verifyStore(copy().configPath, ['--public-key', otherPub]);
    expect(code).toBe(1);
    expect(problemKinds(report)).toEqual(['unknown_key']);
  });

  it('declares a restart as a gap, signs the head at SIGTERM, and stays intact', async () => {
    const store = copy();
    // No checkpoint by count: only the one at start (over the chain_start) and the one at shutdown.
    const runledger = await startRunledger({ dir: store.dir, config: { ...config, integrity: { ...integrity, checkpoint_every_records: 1000 } } });
    started.push(runledger);
    const sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-integrity' });
    const after = rotation('chain-after-restart');
    emitRun(sender.tracer, workflowRoot(after, steps));
    await sender.flush();
    await sender.shutdown();
    await waitForRuns(store.dbPath, [after.runId!]);
    const sizesBeforeStop = readDb(store.dbPath, (db) => db.prepare('SELECT size FROM checkpoints ORDER BY id').pluck().all() as number[]);
    expect(sizesBeforeStop.at(-1)).toBe(7);
    expect(await runledger.stop('SIGTERM')).toBe(0);
    const last = readDb(store.dbPath, (db) => db.prepare('SELECT size, head_hash FROM checkpoints ORDER BY id DESC LIMIT 1').get());
    expect(last).toEqual({ size: 8, head_hash: chainRows(store.dbPath).at(-1)!.record_hash });

    const { code, report } = await verifyStore(store.configPath);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'declared_gap', seq: 7, message: expect.stringContaining('restarted after record 6') })]);
    expect(report).toMatchObject({ intact: true, records_checked: 8, revisions_checked: 6 });
    expect(code).toBe(0);
  });

  it('records a changed signing key: unknown to the original public key, a declared rotation with both', async () => {
    const store = copy();
    const otherKey = join(store.dir, 'replacement-key.pem');
    const runledger = await startRunledger({ dir: store.dir, config: { ...config, integrity: { ...integrity, signing_key_file: otherKey } } });
    started.push(runledger);
    expect(await runledger.stop('SIGTERM')).toBe(0);

    const original = await verifyStore(store.configPath, ['--public-key', `${KEY_FILE}.pub`]);
    expect(original.code).toBe(1);
    expect(problemKinds(original.report)).toEqual(['declared_gap', 'unknown_key']);
    // the key_rotation row, the chain_start row and the shutdown checkpoint
    expect(original.report.problems.filter((p) => p.kind === 'unknown_key')).toHaveLength(3);

    const both = await verifyStore(store.configPath, ['--public-key', `${KEY_FILE}.pub`, '--public-key', `${otherKey}.pub`]);
    expect(both.code).toBe(0);
    expect(both.report.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^signing key rotated from [0-9a-f]{16} to [0-9a-f]{16}$/),
      expect.stringContaining('restarted after record 6'),
    ]);
  });

  describe.sequential('retention', () => {
    const prunedStore = { current: undefined as StoreCopy | undefined };
    const retention = { max_age_days: 0.00001, interval_minutes: 1 };

    it('prunes old runs on start, keeps their chain rows, and verify stays intact with a declared gap', async () => {
      // max_age_days 0.00001 is 0.864 s: every run evaluated in beforeAll is older once this has passed.
      await sleep(Math.max(0, evaluatedAt + 1_000 - Date.now()));
      const store = copy();
      prunedStore.current = store;
      const runledger = await startRunledger({ dir: store.dir, config: { ...config, retention } });
      started.push(runledger);
      const deadline = Date.now() + PATIENCE_MS;
      while (!runledger.logs.some((l) => l.msg === 'retention pruned runs')) {
        if (Date.now() > deadline) throw new Error(`no pruning logged:\n${runledger.stdout()}`);
        await sleep(50);
      }
      expect(runledger.logs.find((l) => l.msg === 'retention pruned runs')).toMatchObject({ runs: 4, revisions: 5 });
      expect(await runledger.stop('SIGTERM')).toBe(0);

      const left = readDb(store.dbPath, (db) => ({
        revisions: db.prepare('SELECT count(*) FROM run_revisions').pluck().get(),
        spans: db.prepare('SELECT count(*) FROM spans').pluck().get(),
        runs: db.prepare('SELECT count(*) FROM runs').pluck().get(),
      }));
      expect(left).toEqual({ revisions: 0, spans: 0, runs: 0 });
      const after = chainRows(store.dbPath);
      expect(after.slice(0, 6)).toEqual(rows);
      expect(after.map((r) => r.kind).slice(6)).toEqual(['chain_start', 'prune']);
      expect(JSON.parse(after[7]!.payload)).toMatchObject({ count: 5, kinds: null, ranges: [[2, 6]] });

      const { code, report } = await verifyStore(store.configPath);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'declared_gap', seq: 7 }),
        expect.objectContaining({ kind: 'declared_gap', seq: 8, message: expect.stringContaining('pruning removed 5 revision(s)') }),
      ]);
      expect(report.intact).toBe(true);
      expect(code).toBe(0);

      const otherPub = join(store.dir, 'other.pub');
      writeFileSync(otherPub, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
      expect((await verifyStore(store.configPath, ['--public-key', otherPub])).code).toBe(1);
    });

    // A run id seen again after its run was pruned gets revision 1 again: the pruned chain row must
    // not be compared with the new record (a false `reordered` any OTLP client could raise).
    it('stays intact when a pruned run id is sent again', async () => {
      const store = prunedStore.current;
      if (store === undefined) throw new Error('the pruning test did not run');
      const runledger = await startRunledger({ dir: store.dir, config: { ...config, retention } });
      started.push(runledger);
      const sender = createOtelSender(runledger.grpcUrl, { 'service.name': 'e2e-integrity' });
      emitRun(sender.tracer, workflowRoot({ ...runs[1], runId: B }, steps));
      await sender.flush();
      await sender.shutdown();
      await waitForRuns(store.dbPath, [B]);
      expect(await runledger.stop('SIGTERM')).toBe(0);

      const { report } = await verifyStore(store.configPath);
      expect(report.problems.filter((p) => p.kind !== 'declared_gap')).toEqual([]);
    });
  });

  describe.concurrent('evidence bundle', () => {
    let exportedOnce: Promise<EvidenceBundle> | undefined;
    /** `runledger export A` of the stopped store, run once; each caller gets its own copy to edit. */
    const exported = async (): Promise<EvidenceBundle> => {
      exportedOnce ??= runledgerCli(['export', A, '--config', copy().configPath]).then((result) => {
        expect(result.code, result.stderr).toBe(0);
        return JSON.parse(result.stdout) as EvidenceBundle;
      });
      return structuredClone(await exportedOnce);
    };

    it('from the HTTP API, carries revisions, a chain path and a checkpoint that an offline check accepts', () => {
      const { integrity: proof } = httpBundle;
      expect(proof.revisions.map((r) => [r.seq, r.revision])).toEqual([
        [seqOf(A, 1), 1],
        [6, 2],
      ]);
      expect(proof.path.map((r) => r.seq)).toEqual(rows.filter((r) => r.seq >= seqOf(A, 1)).map((r) => r.seq));
      expect(proof.checkpoint).toMatchObject({ size: 6, origin: ORIGIN });
      expect(checkBundleOffline(httpBundle, { origin: ORIGIN })).toEqual([]);
    });

    it('from `runledger export`, carries the same proof, the public key, and passes the offline check', async () => {
      const bundle = await exported();
      expect(bundle.run.run_id).toBe(A);
      expect(bundle.integrity.path).toEqual(httpBundle.integrity.path);
      expect(bundle.integrity.public_key_pem).toBe(httpBundle.integrity.public_key_pem);
      expect(bundle.integrity.public_key_pem).toContain('BEGIN PUBLIC KEY');
      expect(checkBundleOffline(bundle, { origin: ORIGIN })).toEqual([]);
      // the spans it shows are the spans the revisions were chained with
      const chained = JSON.parse(bundle.integrity.revisions.at(-1)!.payload) as { spans: Array<[string, string, string]> };
      expect(chained.spans.map(([, spanId]) => spanId).sort()).toEqual(bundle.spans.map((s) => s.span_id).sort());
    });

    it('fails the offline check once tampered with', async () => {
      const cases: Array<[string, (b: EvidenceBundle) => void]> = [
        ['a revision payload edited', (b) => {
          const row = b.integrity.path[0]!;
          row.payload = row.payload.replace(/"record_sha256":"[0-9a-f]/, (m) => `${m.slice(0, -1)}${m.endsWith('0') ? '1' : '0'}`);
        }],
        ['a path row dropped', (b) => void b.integrity.path.splice(1, 1)],
        ['a path row re-hashed', (b) => {
          const row = b.integrity.path[1]!;
          row.created_ns = (BigInt(row.created_ns) + 1n).toString();
          row.record_hash = chainRecordHash(row);
        }],
        ['the checkpoint body edited', (b) => void (b.integrity.checkpoint!.body = b.integrity.checkpoint!.body.replace('\n6\n', '\n5\n'))],
        ['the checkpoint signature replaced', (b) => {
          b.integrity.checkpoint!.signature = sign(null, Buffer.from(b.integrity.checkpoint!.body), generateKeyPairSync('ed25519').privateKey).toString('base64');
        }],
        ['the revisions attributed to another run', (b) => void (b.run.run_id = B)],
      ];
      for (const [what, edit] of cases) {
        const bundle = await exported();
        edit(bundle);
        expect(checkBundleOffline(bundle), what).not.toEqual([]);
      }
    });

    it("fails the offline check when re-signed with another key, checked against the auditor's own copy of the key", async () => {
      const bundle = await exported();
      const trusted = bundle.integrity.public_key_pem!;
      const attacker = generateKeyPairSync('ed25519');
      bundle.integrity.checkpoint!.signature = sign(null, Buffer.from(bundle.integrity.checkpoint!.body), attacker.privateKey).toString('base64');
      bundle.integrity.public_key_pem = attacker.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      expect(checkBundleOffline(bundle)).toEqual([]); // the bundle alone proves nothing about who signed it
      expect(checkBundleOffline(bundle, { publicKeyPem: trusted })).toEqual(['the checkpoint signature does not verify']);
    });
  });
});
