import type { RunRecord } from '../api/run-record.js';
import { byStepStart, type Step } from '../evidence/steps.js';
import type { ChecklistItem } from './evidence-checklist.js';
import { html, type SafeHtml } from './html.js';
import { runHref, severityBadge, statusBadge, time } from './layout.js';

/** How one revision is anchored in the hash chain. */
export interface RevisionProof {
  readonly revision: number;
  readonly seq: number;
  readonly record_hash: string;
  /** The stored record still hashes to the digest its chain row names. */
  readonly record_matches: boolean;
}

export interface CheckpointProof {
  readonly size: number;
  readonly created_at: string;
  readonly key_id: string;
  readonly body: string;
  readonly signature: string;
  /** Checked with the store's current public key; undefined when signed by another key. */
  readonly signature_valid: boolean | undefined;
}

export interface RunView {
  readonly run: RunRecord;
  readonly checklist: readonly ChecklistItem[];
  /** What changed in each revision from the one before, by revision number. */
  readonly changes: ReadonlyMap<number, readonly string[]>;
  readonly proofs: readonly RevisionProof[];
  /** The newest signed checkpoint, or null before the first one. */
  readonly checkpoint: CheckpointProof | null;
  readonly bundleHref: string;
}

const TYPE_LABEL: Record<Step['type'], string> = { decision: 'decision', change: 'change', tool_call: 'tool call', agent: 'agent', workflow: 'workflow', task: 'task', other: 'other' };
const STATE_MARK: Record<ChecklistItem['state'], string> = { present: '✓ present', missing: '✕ missing', failed: '✕ failed', not_required: '– not required' };

export function runPage(view: RunView): SafeHtml {
  const { run } = view;
  const steps = run.steps.slice().sort(byStepStart);
  const { findings } = run;
  const latest = run.revisions.at(-1)?.revision;
  const spanNames = new Map(steps.map((s) => [s.span_id, s.name]));
  const spanLink = (spanId: string | undefined) =>
    spanId === undefined ? html`<span class="muted">—</span>` : html`<a class="id" href="#span-${spanId}">${spanNames.get(spanId) ?? spanId}</a>`;
  return html`
<p class="crumbs"><a href="/">Runs</a> › run</p>
<div class="run-head status-${run.status}">
  <h1><span class="id">${run.run_id}</span></h1>
  <p class="head-line">${statusBadge(run.status)} <span>outcome <strong>${text(run.outcome)}</strong></span>
    <span>revision <strong>${run.revision}</strong>${latest !== undefined && latest !== run.revision ? html` (latest is <a href="${runHref(run.run_id)}">${latest}</a>)` : ''}</span>
    <a class="button" href="${view.bundleHref}" download>Download evidence bundle (JSON)</a></p>
</div>
${summary(run)}
<section aria-labelledby="h-findings">
  <h2 id="h-findings">Findings <span class="muted">(${findings.length})</span></h2>
  ${findings.length === 0
    ? html`<p class="notice ok">No findings: the run carries all the evidence its profiles require.</p>`
    : html`<table class="findings">
    <thead><tr><th scope="col">Severity</th><th scope="col">Finding</th><th scope="col">Message</th><th scope="col">Field</th><th scope="col">Span</th><th scope="col">Controls</th></tr></thead>
    <tbody>${findings.map(
      (f) => html`<tr class="severity-${f.severity}"><td>${severityBadge(f.severity)}</td><td><code>${f.code}</code></td><td>${f.message}</td><td>${f.field ? html`<code>${f.field}</code>` : html`<span class="muted">—</span>`}</td><td>${spanLink(f.span_id)}</td><td>${f.controls.length === 0 ? html`<span class="muted">—</span>` : f.controls.join(', ')}</td></tr>`,
    )}</tbody></table>`}
</section>
<section aria-labelledby="h-checklist">
  <h2 id="h-checklist">Evidence checklist <span class="muted">(profiles: ${run.profiles.join(', ')})</span></h2>
  <table class="checklist">
    <thead><tr><th scope="col">Requirement</th><th scope="col">Kind</th><th scope="col">State</th><th scope="col">Value</th><th scope="col">Proving span</th><th scope="col">Note</th></tr></thead>
    <tbody>${view.checklist.map(
      (item) => html`<tr class="state-${item.state}"><td><code>${item.requirement}</code></td><td>${item.kind}</td><td><span class="state">${STATE_MARK[item.state]}</span></td><td>${item.value ?? html`<span class="muted">—</span>`}</td><td>${spanLink(item.span_id)}</td><td>${item.note ?? ''}</td></tr>`,
    )}</tbody>
  </table>
</section>
${waterfall(steps)}
${revisions(view)}
${integrity(view)}`;
}

function summary(run: RunRecord): SafeHtml {
  const { actor, trigger } = run;
  const registered = actor.registered === undefined ? 'no inventory loaded' : actor.registered ? 'registered' : 'not in the inventory';
  const row = (label: string, value: unknown) => html`<div><dt>${label}</dt><dd>${typeof value === 'object' && value !== null ? value as SafeHtml : text(value)}</dd></div>`;
  return html`<section aria-labelledby="h-summary" class="facts">
  <h2 id="h-summary" class="visually-hidden">Summary</h2>
  <dl>
    ${row('Workflow', run.workflow)}${row('Kind', run.kind)}${row('Started', time(run.started_at))}${row('Ended', time(run.ended_at))}
    ${row('Declared result', run.declared_result)}${row('Trigger', [trigger.kind, trigger.event].filter(Boolean).join(' · '))}${row('Requester', run.requester_id)}${row('Spans', run.span_count)}
  </dl>
  <h3>Actor</h3>
  <dl>
    ${row('Id', actor.id)}${actor.reported_id ? row('Reported as', actor.reported_id) : ''}${row('Type', actor.type)}${row('Authentication', actor.authn)}
    ${row('Inventory', registered)}${row('Owner', actor.owner)}${row('Team', actor.team)}${row('Tier', actor.tier)}
  </dl>
</section>`;
}

/** Spans in start order, nested under their parents, with a bar for when each ran. */
function waterfall(steps: readonly Step[]): SafeHtml {
  if (steps.length === 0) return html`<section><h2>Timeline</h2><p class="muted">No spans.</p></section>`;
  const start = BigInt(steps[0]!.start_ns);
  // Offsets in ms from the first start; the timeline ends where the last span does.
  const offsetMs = (s: Step) => Number(BigInt(s.start_ns) - start) / 1e6;
  const totalMs = Math.max(1e-6, ...steps.map((s) => offsetMs(s) + s.duration_ms));
  const byId = new Map(steps.map((s) => [s.span_id, s]));
  const depth = new Map<string, number>();
  const depthOf = (s: Step): number => {
    let d = depth.get(s.span_id);
    if (d !== undefined) return d;
    d = 0;
    // Walk up at most 64 parents: a cycle in stored ids must not hang the page.
    for (let p = s.parent_span_id, hops = 0; p !== null && hops < 64; p = byId.get(p)?.parent_span_id ?? null, hops++) if (byId.has(p)) d++;
    depth.set(s.span_id, d);
    return d;
  };
  const pct = (ms: number) => `${Math.min(100, Math.max(0, (ms / totalMs) * 100)).toFixed(2)}%`;
  const rows = steps.map((s) => {
    const offset = offsetMs(s);
    const failed = s.status === 'error' || s.succeeded === false;
    const mark = failed ? ((s.type === 'change' || s.type === 'tool_call') ? '✕ failed attempt' : '✕ error') : s.status === 'ok' ? 'ok' : '';
    const detail = [s.evidence['change.operation'], s.evidence['change.target'] ?? s.evidence['tool.name'], s.evidence['decision.policy'], s.evidence['decision.result']].filter(Boolean).join(' · ');
    return html`<tr id="span-${s.span_id}" class="step type-${s.type}${failed ? ' failed' : ''}">
      <td class="name" style="padding-left:${0.5 + Math.min(depthOf(s), 12)}rem">${s.root ? html`<span class="tag">root</span> ` : ''}${s.name}${detail ? html`<div class="detail">${detail}</div>` : ''}</td>
      <td><span class="type">${TYPE_LABEL[s.type]}</span></td>
      <td>${failed ? html`<strong class="fail">${mark}</strong>${s.status_message ? html`<div class="detail">${s.status_message}</div>` : ''}` : mark}</td>
      <td class="num">+${offset.toFixed(1)} ms</td>
      <td class="num">${s.duration_ms.toFixed(1)} ms</td>
      <td class="bar-cell" aria-hidden="true"><div class="bar" style="margin-left:${pct(offset)};width:${pct(Math.max(s.duration_ms, totalMs / 400))}"></div></td>
      <td class="id">${s.span_id}</td>
    </tr>`;
  });
  return html`<section aria-labelledby="h-timeline">
  <h2 id="h-timeline">Timeline <span class="muted">(${steps.length} spans in start order, ${totalMs.toFixed(1)} ms)</span></h2>
  <table class="waterfall">
    <thead><tr><th scope="col">Span</th><th scope="col">Step</th><th scope="col">Result</th><th scope="col">Start</th><th scope="col">Duration</th><th scope="col" class="bar-cell">When</th><th scope="col">Span id</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
</section>`;
}

function revisions(view: RunView): SafeHtml {
  const list = view.run.revisions;
  return html`<section aria-labelledby="h-revisions">
  <h2 id="h-revisions">Revisions <span class="muted">(${list.length})</span></h2>
  <table class="revisions">
    <thead><tr><th scope="col">Revision</th><th scope="col">Evaluated (UTC)</th><th scope="col">Reason</th><th scope="col">Status</th><th scope="col">Outcome</th><th scope="col">What changed</th></tr></thead>
    <tbody>${list.map((r) => {
      const changes = view.changes.get(r.revision) ?? [];
      return html`<tr${r.revision === view.run.revision ? html` aria-current="true" class="current"` : ''}>
        <td class="num"><a href="${runHref(view.run.run_id, r.revision)}">${r.revision}</a></td><td>${time(r.evaluated_at)}</td><td>${r.reason}</td><td>${statusBadge(r.status)}</td><td>${r.outcome}</td>
        <td>${r.revision === 1 ? html`<span class="muted">first judgement</span>` : changes.length === 0 ? html`<span class="muted">no change in status, findings, evidence or spans</span>` : html`<ul class="changes">${changes.map((c) => html`<li>${c}</li>`)}</ul>`}</td>
      </tr>`;
    })}</tbody>
  </table>
</section>`;
}

function integrity(view: RunView): SafeHtml {
  const cp = view.checkpoint;
  return html`<section aria-labelledby="h-integrity">
  <h2 id="h-integrity">Integrity proof</h2>
  <table class="proof">
    <thead><tr><th scope="col">Revision</th><th scope="col">Chain seq</th><th scope="col">Record hash (SHA-256)</th><th scope="col">Stored record</th><th scope="col">Signed checkpoint</th></tr></thead>
    <tbody>${view.proofs.map(
      (p) => html`<tr><td class="num">${p.revision}</td><td class="num">${p.seq}</td><td class="hash">${p.record_hash}</td>
        <td>${p.record_matches ? '✓ matches the chained digest' : html`<strong class="fail">✕ differs from the chained digest</strong>`}</td>
        <td>${cp !== null && cp.size >= p.seq ? `✓ covered (size ${cp.size})` : html`<span class="muted">not yet covered</span>`}</td></tr>`,
    )}</tbody>
  </table>
  ${cp === null
    ? html`<p class="muted">No signed checkpoint yet.</p>`
    : html`<h3>Latest signed checkpoint</h3>
  <dl class="facts">
    <div><dt>Size</dt><dd>${cp.size} records</dd></div><div><dt>Signed at</dt><dd>${time(cp.created_at)}</dd></div><div><dt>Key id</dt><dd class="id">${cp.key_id}</dd></div>
    <div><dt>Signature</dt><dd>${cp.signature_valid === undefined ? 'not checked here (signed by an earlier key): see Integrity' : cp.signature_valid ? '✓ valid Ed25519 signature' : html`<strong class="fail">✕ invalid</strong>`}</dd></div>
  </dl>
  <pre class="note-body" aria-label="Signed checkpoint text">${cp.body}\n— ${cp.signature}</pre>`}
  <p>The <a href="${view.bundleHref}" download>evidence bundle</a> holds the chain rows from this run's first revision to a signed checkpoint, to check offline; <a href="/integrity">Integrity</a> verifies the whole chain.</p>
</section>`;
}

const text = (value: unknown): SafeHtml | string =>
  (typeof value === 'string' && value !== '') || typeof value === 'number' ? String(value) : html`<span class="muted">—</span>`;
