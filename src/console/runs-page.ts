import { RUN_STATUSES, type RunsQuery } from '../api/run-filter.js';
import type { RunSummary } from '../api/run-record.js';
import { FINDING_CODES } from '../evidence/findings.js';
import type { StatusCounts } from '../store/run-queries.js';
import { html, type SafeHtml } from './html.js';
import { runHref, statusBadge, time } from './layout.js';


export interface RunsView {
  readonly query: RunsQuery;
  readonly runs: readonly RunSummary[];
  readonly nextCursor: string | null;
  readonly counts: StatusCounts;
  /** Set when the filters could not be applied; the form is shown with the message. */
  readonly error?: string;
}

/** A URL of the runs page with these filters (empty ones left out). */
export function runsHref(query: RunsQuery): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, value);
  const text = params.toString();
  return text === '' ? '/' : `/?${text}`;
}

export function runsPage(view: RunsView): SafeHtml {
  const { query, counts } = view;
  const total = counts.compliant + counts.incomplete + counts.violation;
  const filters = { ...query, cursor: undefined };
  const windowText =
    query.since || query.until ? `runs started ${query.since ? `from ${query.since}` : ''}${query.since && query.until ? ' ' : ''}${query.until ? `before ${query.until}` : ''}` : 'all runs';
  const ratio = total === 0 ? '—' : `${((counts.compliant / total) * 100).toFixed(1)}%`;
  const countLink = (status: (typeof RUN_STATUSES)[number]) =>
    html`<li><a class="count status-${status}" href="${runsHref({ ...filters, status })}"${query.status === status ? html` aria-current="true"` : ''}>
      <span class="count-n">${counts[status].toLocaleString('en-US')}</span> ${statusBadge(status)}</a></li>`;
  return html`
<h1>Runs</h1>
<section class="summary" aria-label="Counts">
  <ul class="counts">
    ${RUN_STATUSES.map(countLink)}
  </ul>
  <p class="ratio"><span class="ratio-n">${ratio}</span> compliant <span class="muted">(${counts.compliant.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}, ${windowText}${query.workflow || query.kind || query.actor || query.finding ? ', filtered' : ''})</span></p>
</section>
${filterForm(query)}
${view.error !== undefined ? html`<p class="notice error" role="alert">${view.error}</p>` : ''}
<table class="runs">
  <caption>${view.runs.length === 0 ? 'No runs match these filters.' : `Newest first${query.cursor ? ' (continued)' : ''}: ${view.runs.length} run${view.runs.length === 1 ? '' : 's'} shown`}</caption>
  <thead><tr><th scope="col">Started (UTC)</th><th scope="col">Status</th><th scope="col">Run</th><th scope="col">Workflow</th><th scope="col">Kind</th><th scope="col">Actor</th><th scope="col">Outcome</th><th scope="col">Findings</th><th scope="col">Rev.</th></tr></thead>
  <tbody>
  ${view.runs.map(runRow)}
  </tbody>
</table>
<nav class="pager" aria-label="Pages">
  ${query.cursor ? html`<a href="${runsHref(filters)}">« Newest</a>` : ''}
  ${view.nextCursor !== null ? html`<a rel="next" href="${runsHref({ ...filters, cursor: view.nextCursor })}">Older runs »</a>` : ''}
</nav>`;
}

function filterForm(query: RunsQuery): SafeHtml {
  const text = (name: keyof RunsQuery, label: string, hint = '') =>
    html`<div class="field"><label for="f-${name}">${label}</label><input id="f-${name}" name="${name}" type="text" value="${query[name] ?? ''}"${hint ? html` placeholder="${hint}"` : ''}></div>`;
  const select = (name: keyof RunsQuery, label: string, options: readonly string[]) =>
    html`<div class="field"><label for="f-${name}">${label}</label><select id="f-${name}" name="${name}"><option value="">any</option>${options.map(
      (o) => html`<option${query[name] === o ? html` selected` : ''}>${o}</option>`,
    )}</select></div>`;
  return html`<form class="filters" method="get" action="/" role="search" aria-label="Filter runs">
  ${select('status', 'Status', RUN_STATUSES)}
  ${text('workflow', 'Workflow')}
  ${text('kind', 'Kind', 'e.g. secret_rotation')}
  ${text('actor', 'Actor id')}
  ${select('finding', 'Finding', Object.keys(FINDING_CODES))}
  ${text('since', 'Started from', 'RFC 3339, e.g. 2026-01-31T00:00:00Z')}
  ${text('until', 'Started before', 'RFC 3339')}
  <div class="actions"><button type="submit">Apply</button> <a href="/">Clear</a></div>
</form>`;
}

function runRow(run: RunSummary): SafeHtml {
  const codes = [...new Set(run.findings.map((f) => f.code))];
  return html`<tr class="run status-${run.status}">
    <td class="when">${time(run.started_at)}</td>
    <td>${statusBadge(run.status)}</td>
    <td class="id run-id"><a href="${runHref(run.run_id)}">${run.run_id}</a></td>
    <td>${text(run.workflow)}</td>
    <td>${text(run.kind)}</td>
    <td class="id">${text(run.actor.id)}</td>
    <td>${text(run.outcome)}</td>
    <td>${codes.length === 0 ? html`<span class="muted">none</span>` : html`<ul class="codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ul>`}</td>
    <td class="num">${run.revision}</td>
  </tr>`;
}

const text = (value: unknown): SafeHtml | string => (typeof value === 'string' && value !== '' ? value : html`<span class="muted">—</span>`);
