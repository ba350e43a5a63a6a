import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createChainFixture, ORIGIN, type ChainFixture } from '../../test/support/chain-fixture.js';
import type { PrunePayload } from '../integrity/chain-entry.js';
import { ChainWriter } from '../integrity/chain-writer.js';
import { loadOrCreateSigningKey, verifyText } from '../integrity/signing.js';
import { verifyChain } from '../integrity/verify.js';
import { applyRetention } from '../retention/retention.js';
import { Pruner, toRanges } from './pruner.js';

const fixtures: ChainFixture[] = [];
afterEach(() => {
  for (const f of fixtures.splice(0)) f.close();
});

const DAY_NS = 86_400_000_000_000n;
const NOW = BigInt(Date.now()) * 1_000_000n;

function store(): ChainFixture {
  const f = createChainFixture();
  fixtures.push(f);
  f.writer.recordStart(NOW - 30n * DAY_NS, 'test');
  return f;
}

const count = (f: ChainFixture, table: string, runKey: string) =>
  Number(f.db.prepare(`SELECT count(*) FROM ${table} WHERE run_key = ?`).pluck().get(runKey));
const runKeys = (f: ChainFixture) => (f.db.prepare('SELECT run_key FROM runs ORDER BY run_key').pluck().all() as string[]);
const pruneRows = (f: ChainFixture) =>
  [...f.chain.rows(1)].filter((r) => r.kind === 'prune');
const verify = (f: ChainFixture) => verifyChain(f.chain, { publicKeys: [f.key.publicKey] });

describe('Pruner', () => {
  it('removes the revisions, findings, spans and index row of runs evaluated before the cutoff, and keeps their chain rows', () => {
    const f = store();
    f.addRevision('old', { evaluatedNs: NOW - 10n * DAY_NS });
    f.addRevision('new', { evaluatedNs: NOW - DAY_NS });
    f.db.prepare("INSERT INTO run_findings (run_key, revision, code) VALUES ('old', 1, 'x'), ('new', 1, 'x')").run();
    const chainBefore = f.writer.head().seq;

    const result = new Pruner(f.db, f.writer).prune(NOW - 5n * DAY_NS, { exceptKinds: [] }, NOW);

    expect(result).toEqual({ runs: 1, revisions: 1, unforwardedSpans: 0 });
    for (const table of ['run_revisions', 'run_findings', 'spans', 'runs']) {
      expect(count(f, table, 'old'), table).toBe(0);
      expect(count(f, table, 'new'), table).toBeGreaterThan(0);
    }
    expect([...f.chain.rows(1)].filter((r) => r.run_key === 'old')).toHaveLength(1);
    expect(f.writer.head().seq).toBe(chainBefore + 1);
  });

  it('with forwarding on, counts the pruned spans its cursor had not passed', () => {
    const f = store();
    f.addRevision('sent', { evaluatedNs: NOW - 10n * DAY_NS, spans: 3 });
    f.addRevision('unsent', { evaluatedNs: NOW - 9n * DAY_NS, spans: 4 });
    const lastSent = f.db.prepare("SELECT max(id) FROM spans WHERE run_key = 'sent'").pluck().get() as number;
    f.db.prepare("INSERT INTO forward_cursors (stream, position, updated_ns) VALUES ('spans', ?, 0)").run(lastSent);

    expect(new Pruner(f.db, f.writer, true).prune(NOW - 5n * DAY_NS, { exceptKinds: [] }, NOW)).toEqual({ runs: 2, revisions: 2, unforwardedSpans: 4 });
  });

  it('appends one signed prune record naming the removed revisions as seq ranges', () => {
    const f = store();
    f.addRevision('a', { evaluatedNs: NOW - 10n * DAY_NS });
    f.addRevision('a', { evaluatedNs: NOW - 9n * DAY_NS });
    f.addRevision('kept', { evaluatedNs: NOW });
    f.addRevision('b', { evaluatedNs: NOW - 8n * DAY_NS });
    const headBefore = f.writer.head();

    new Pruner(f.db, f.writer).prune(NOW - 5n * DAY_NS, { exceptKinds: [] }, NOW);

    const [row] = pruneRows(f);
    expect(row).toBeDefined();
    const payload = JSON.parse(row!.payload) as PrunePayload;
    expect(payload).toEqual({
      before: new Date(Number((NOW - 5n * DAY_NS) / 1_000_000n)).toISOString(),
      kinds: null,
      count: 3,
      ranges: [
        [f.seqOf('a', 1), f.seqOf('a', 2)],
        [f.seqOf('b'), f.seqOf('b')],
      ],
      last_hash: headBefore.hash,
    });
    expect(row!.key_id).toBe(f.key.keyId);
    expect(verifyText(f.key.publicKey, row!.record_hash, row!.signature!)).toBe(true);
  });

  it('leaves verify intact, reporting the pruning as a declared gap', () => {
    const f = store();
    f.addRevision('old', { evaluatedNs: NOW - 10n * DAY_NS });
    f.addRevision('new', { evaluatedNs: NOW });
    f.writer.writeCheckpoint(NOW);
    new Pruner(f.db, f.writer).prune(NOW - 5n * DAY_NS, { exceptKinds: [] }, NOW);
    f.writer.writeCheckpoint(NOW + 1n);

    const report = verify(f);
    expect(report.intact).toBe(true);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'declared_gap', seq: f.writer.head().seq, message: expect.stringContaining('removed 1 revision') }),
    ]);
  });

  it('writes no prune record when nothing is old enough', () => {
    const f = store();
    f.addRevision('new', { evaluatedNs: NOW });
    expect(new Pruner(f.db, f.writer).prune(NOW - DAY_NS, { exceptKinds: [] }, NOW)).toEqual({ runs: 0, revisions: 0, unforwardedSpans: 0 });
    expect(pruneRows(f)).toEqual([]);
  });

  it('keeps open runs, however old', () => {
    const f = store();
    f.db
      .prepare("INSERT INTO runs (run_key, state, first_received_ns, last_received_ns) VALUES ('open', 'open', 1, 1)")
      .run();
    new Pruner(f.db, f.writer).prune(NOW, { exceptKinds: [] }, NOW);
    expect(runKeys(f)).toEqual(['open']);
  });

  it('prunes one kind only, and the rest except the listed kinds (runs without a kind included)', () => {
    const f = store();
    const old = NOW - 10n * DAY_NS;
    f.addRevision('rotation', { kind: 'secret_rotation', evaluatedNs: old });
    f.addRevision('jit', { kind: 'jit_access', evaluatedNs: old });
    f.addRevision('plain', { kind: null, evaluatedNs: old });
    const pruner = new Pruner(f.db, f.writer);

    expect(pruner.prune(NOW, { kind: 'secret_rotation' }, NOW).runs).toBe(1);
    expect(runKeys(f)).toEqual(['jit', 'plain']);
    expect((JSON.parse(pruneRows(f)[0]!.payload) as PrunePayload).kinds).toEqual(['secret_rotation']);

    expect(pruner.prune(NOW, { exceptKinds: ['jit_access'] }, NOW).runs).toBe(1);
    expect(runKeys(f)).toEqual(['jit']);
  });

  it('does not excuse missing data with a prune record the auditor cannot verify', () => {
    const f = store();
    f.addRevision('victim', { evaluatedNs: NOW });
    // an attacker without the key removes a run and declares it pruned, unsigned or self-signed
    const unsigned = new Pruner(f.db, new ChainWriter(f.chain, undefined, ORIGIN));
    unsigned.prune(NOW + 1n, { exceptKinds: [] }, NOW);
    expect(verify(f).problems.map((p) => p.kind)).toContain('signature_invalid');
    expect(verify(f).intact).toBe(false);

    const g = store();
    g.addRevision('victim', { evaluatedNs: NOW });
    const attacker = loadOrCreateSigningKey(join(g.dir, 'attacker.pem'));
    new Pruner(g.db, new ChainWriter(g.chain, attacker, ORIGIN)).prune(NOW + 1n, { exceptKinds: [] }, NOW);
    expect(verify(g).problems.map((p) => p.kind)).toContain('unknown_key');
    expect(verify(g).intact).toBe(false);
  });

  // Late spans of a pruned run, or a client reusing a run id, bring the key back with revision 1
  // again: the pruned chain row must not be compared with the new record (a false `reordered`).
  it('does not report a pruned revision when its run key is used again later', () => {
    const f = store();
    f.addRevision('reused', { evaluatedNs: NOW - 10n * DAY_NS });
    new Pruner(f.db, f.writer).prune(NOW - 5n * DAY_NS, { exceptKinds: [] }, NOW);
    f.addRevision('reused', { evaluatedNs: NOW });
    f.writer.writeCheckpoint(NOW);

    const report = verify(f);
    expect(report.problems.filter((p) => p.kind !== 'declared_gap')).toEqual([]);
    expect(report.intact).toBe(true);
  });
});

describe('applyRetention', () => {
  const retention = { max_age_days: 5, by_kind: { jit_access: 20 }, interval_minutes: 60 };

  it('applies per-kind ages first, then the default age to every other run', () => {
    const f = store();
    f.addRevision('jit-10d', { kind: 'jit_access', evaluatedNs: NOW - 10n * DAY_NS });
    f.addRevision('jit-25d', { kind: 'jit_access', evaluatedNs: NOW - 25n * DAY_NS });
    f.addRevision('other-10d', { kind: 'secret_rotation', evaluatedNs: NOW - 10n * DAY_NS });
    f.addRevision('none-10d', { evaluatedNs: NOW - 10n * DAY_NS });
    f.addRevision('none-1d', { evaluatedNs: NOW - DAY_NS });

    expect(applyRetention(new Pruner(f.db, f.writer), retention, NOW)).toEqual({ runs: 3, revisions: 3, unforwardedSpans: 0 });
    expect(runKeys(f)).toEqual(['jit-10d', 'none-1d']);
    expect(verify(f).intact).toBe(true);
  });

  it('prunes nothing and writes nothing when no age is configured', () => {
    const f = store();
    f.addRevision('ancient', { evaluatedNs: 1n });
    expect(applyRetention(new Pruner(f.db, f.writer), { by_kind: {}, interval_minutes: 60 }, NOW)).toEqual({ runs: 0, revisions: 0, unforwardedSpans: 0 });
    expect(pruneRows(f)).toEqual([]);
  });
});

describe('toRanges', () => {
  it('joins consecutive seqs into inclusive ranges, in order', () => {
    expect(toRanges([9, 3, 4, 5, 7, 8, 12])).toEqual([
      [3, 5],
      [7, 9],
      [12, 12],
    ]);
    expect(toRanges([])).toEqual([]);
  });
});
