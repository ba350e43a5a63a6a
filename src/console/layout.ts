import { html, type HtmlValue, type SafeHtml } from './html.js';

export const CSS_PATH = '/console/assets/console.css';

export type Section = 'runs' | 'integrity' | 'none';

/** The page shell: header with navigation, main landmark, the local stylesheet; no script. */
export function page(title: string, section: Section, body: HtmlValue, options: { signOut?: boolean } = {}): SafeHtml {
  const link = (href: string, label: string, name: Section) =>
    html`<a href="${href}"${name === section ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · runledger</title>
<link rel="stylesheet" href="${CSS_PATH}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">runledger</span>
  <nav aria-label="Sections">${link('/', 'Runs', 'runs')}${link('/integrity', 'Integrity', 'integrity')}</nav>
  ${options.signOut ? html`<form method="post" action="/sign-out" class="sign-out"><button type="submit">Sign out</button></form>` : ''}
</header>
<main id="main">
${body}
</main>
</body>
</html>`;
}

const STATUS_MARK: Record<string, string> = { compliant: '✓', incomplete: '!', violation: '✕' };

/** A run status as a symbol and a word, so it never relies on colour alone. */
export function statusBadge(status: unknown): SafeHtml {
  const text = typeof status === 'string' ? status : 'open';
  return html`<span class="badge status-${text}"><span aria-hidden="true">${STATUS_MARK[text] ?? '…'}</span> ${text}</span>`;
}

export function severityBadge(severity: string): SafeHtml {
  return html`<span class="badge severity-${severity}">${severity}</span>`;
}

/** An RFC 3339 time shown to the second in UTC, with the full value in a <time> element. */
export function time(iso: unknown): SafeHtml {
  if (typeof iso !== 'string') return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/(\.\d{3})\d*Z$/, '$1Z').replace(/\.000Z$/, 'Z')}</time>`;
}

export const runHref = (runId: string, revision?: number): string =>
  `/runs/${encodeURIComponent(runId)}${revision === undefined ? '' : `?revision=${revision}`}`;

export function errorPage(status: number, message: string): SafeHtml {
  return page(`Error ${status}`, 'none', html`<h1>${status === 404 ? 'Not found' : 'Error'}</h1><p class="notice error" role="alert">${message}</p><p><a href="/">Back to runs</a></p>`);
}
