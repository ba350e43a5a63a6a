import type { VerifyReport } from '../integrity/verify.js';
import { html, type SafeHtml } from './html.js';
import { runHref } from './layout.js';

/** What the known kinds mean; kinds added later are shown by name alone. */
const KIND_MEANING: Record<string, string> = {
  record_altered: 'a chain record, run revision or span no longer matches its hash',
  record_missing: 'a chain record, run revision or span was removed',
  record_unchained: 'a run revision that no chain record covers (written around runledger)',
  reordered: 'records are out of chain order, or a revision holds another revision’s record',
  signature_invalid: 'a signed record or checkpoint has a missing or wrong signature',
  unknown_key: 'signed by a key that is not trusted',
  checkpoint_mismatch: 'the chain differs from what a signed checkpoint names',
  truncated: 'the chain ends before a signed checkpoint says it does',
  declared_gap: 'informational: a restart, key rotation or pruning that runledger recorded and signed',
};

const KNOWN_FIELDS = new Set(['kind', 'seq', 'run_id', 'revision', 'message']);

export interface IntegrityView {
  /** Absent until a verification is asked for. */
  readonly report?: VerifyReport;
  readonly durationMs?: number;
  readonly error?: string;
}

export function integrityPage(view: IntegrityView): SafeHtml {
  return html`<h1>Integrity</h1>
<p>Walks the whole hash chain and re-hashes every run revision and span, with the same code as <code>runledger verify</code>,
trusting the store's own public key (<code>&lt;signing_key_file&gt;.pub</code>). Auditors should also run <code>runledger verify --public-key</code> with their own copy.</p>
<form method="get" action="/integrity"><input type="hidden" name="verify" value="1"><button type="submit">${view.report ? 'Verify again' : 'Verify now'}</button></form>
${view.error !== undefined ? html`<p class="notice error" role="alert">Verification could not run: ${view.error}</p>` : ''}
${view.report !== undefined ? report(view.report, view.durationMs) : ''}`;
}

function report(r: VerifyReport, durationMs: number | undefined): SafeHtml {
  const groups = new Map<string, Array<(typeof r.problems)[number]>>();
  for (const p of r.problems) groups.set(p.kind, [...(groups.get(p.kind) ?? []), p]);
  // Real problems first, informational gaps last.
  const kinds = [...groups.keys()].sort((a, b) => Number(a === 'declared_gap') - Number(b === 'declared_gap') || a.localeCompare(b));
  const serious = r.problems.filter((p) => p.kind !== 'declared_gap').length;
  return html`<section aria-labelledby="h-result" class="verdict ${r.intact ? 'intact' : 'broken'}">
  <h2 id="h-result">${r.intact ? '✓ Intact' : `✕ Problems found (${serious})`}</h2>
  <dl class="facts">
    <div><dt>Chain records</dt><dd>${r.records_checked}</dd></div><div><dt>Run revisions</dt><dd>${r.revisions_checked}</dd></div>
    <div><dt>Checkpoints</dt><dd>${r.checkpoints_checked}</dd></div><div><dt>Head</dt><dd>seq ${r.head.seq} <span class="hash">${r.head.hash}</span></dd></div>
    ${durationMs !== undefined ? html`<div><dt>Took</dt><dd>${Math.round(durationMs)} ms</dd></div>` : ''}
  </dl>
</section>
${kinds.map((kind) => {
  const problems = groups.get(kind)!;
  const extra = [...new Set(problems.flatMap((p) => Object.keys(p).filter((k) => !KNOWN_FIELDS.has(k))))];
  return html`<section aria-labelledby="k-${kind}" class="problems ${kind === 'declared_gap' ? 'info' : 'bad'}">
  <h3 id="k-${kind}"><code>${kind}</code> <span class="muted">(${problems.length})</span></h3>
  ${KIND_MEANING[kind] !== undefined ? html`<p>${KIND_MEANING[kind]}</p>` : ''}
  <table>
    <thead><tr><th scope="col">Seq</th><th scope="col">Run</th><th scope="col">Revision</th><th scope="col">Message</th>${extra.map((k) => html`<th scope="col">${k}</th>`)}</tr></thead>
    <tbody>${problems.map((p) => {
      const fields = p as unknown as Record<string, unknown>;
      return html`<tr><td class="num">${p.seq ?? '—'}</td><td class="id">${p.run_id !== undefined ? html`<a href="${runHref(p.run_id)}">${p.run_id}</a>` : '—'}</td><td class="num">${p.revision ?? '—'}</td><td>${p.message}</td>${extra.map(
        (k) => html`<td>${fields[k] === undefined ? '' : typeof fields[k] === 'object' ? JSON.stringify(fields[k]) : String(fields[k])}</td>`,
      )}</tr>`;
    })}</tbody>
  </table>
</section>`;
})}`;
}
