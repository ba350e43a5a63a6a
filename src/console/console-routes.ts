import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ApiError } from '../api/errors.js';
import type { EvidenceBundle } from '../api/evidence-bundle.js';
import { FILTER_NAMES, runFilterOf, type RunsQuery } from '../api/run-filter.js';
import { isJudged, listRuns, showRevision, showRun } from '../api/run-record.js';
import type { BearerTokenCheck } from '../auth/bearer-token.js';
import type { FieldKeys } from '../evidence/fields.js';
import type { Profile } from '../evidence/profiles.js';
import type { RunSpan } from '../evidence/run-input.js';
import { recordDigest, type RevisionPayload } from '../integrity/chain-entry.js';
import { keyIdOf, verifyText } from '../integrity/signing.js';
import type { VerifyReport } from '../integrity/verify.js';
import type { ChainStore } from '../store/chain-store.js';
import { InvalidCursorError, type RunQueries } from '../store/run-queries.js';
import { ConsoleSessions, SESSION_COOKIE } from './console-session.js';
import { evidenceChecklist } from './evidence-checklist.js';
import { createFieldSource } from './field-source.js';
import { html, type SafeHtml } from './html.js';
import { integrityPage } from './integrity-page.js';
import { CSS_PATH, errorPage, page } from './layout.js';
import { revisionChanges } from './revision-changes.js';
import { runPage, type CheckpointProof, type RevisionProof } from './run-page.js';
import { runsPage, type RunsView } from './runs-page.js';

export interface ConsoleDeps {
  readonly queries: () => RunQueries;
  readonly chain: () => ChainStore;
  /** The evidence bundle of a run, as the API serves it; undefined when unknown. */
  readonly evidence: (runKey: string) => EvidenceBundle | undefined;
  /** A run's stored spans, to show which one proves each evidence field. */
  readonly spans: (runKey: string) => readonly RunSpan[];
  /** The profiles runs are judged against, by name, and the evidence fields' keys (for the checklist). */
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly fieldKeys: FieldKeys;
  /** A verification of the whole chain, as `runledger verify` does it. */
  readonly verify: () => Promise<VerifyReport>;
  /** The store's signing public key, to check checkpoint signatures on the run page. */
  readonly publicKey?: KeyObject;
  readonly logger?: Logger;
}

const PAGE_SIZE = 50;
const CSS = readFileSync(new URL('./assets/console.css', import.meta.url), 'utf8');
/** No script at all; inline style attributes only for the waterfall bars' positions. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * The auditor's web console (DESIGN §9): `/`, `/runs/{id}`, `/integrity`, server-rendered HTML over the
 * same queries as /api/v1. With a bearer token configured, pages need the same token: in the
 * Authorization header (a proxy can add it) or through a sign-in that sets a session cookie.
 */
export function registerConsoleRoutes(app: FastifyInstance, deps: ConsoleDeps, auth: BearerTokenCheck | undefined): void {
  const sessions = new ConsoleSessions();
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    scope.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
      if (err instanceof ApiError) return sendPage(reply, err.statusCode, errorPage(err.statusCode, err.message));
      deps.logger?.error({ err }, 'console request failed');
      return sendPage(reply, 500, errorPage(500, 'internal error'));
    });
    if (auth !== undefined) {
      scope.addHook('onRequest', async (request, reply) => {
        const route = request.routeOptions.url ?? '';
        if (route === '/sign-in' || route === CSS_PATH) return;
        if (auth.accepts(request.headers.authorization) || sessions.accepts(request.headers.cookie)) return;
        return reply.redirect(`/sign-in?next=${encodeURIComponent(request.url)}`, 303);
      });
    }
    const signedIn = (request: FastifyRequest) => auth !== undefined && sessions.accepts(request.headers.cookie);

    scope.get(CSS_PATH, async (_request, reply) =>
      reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(CSS),
    );

    scope.get<{ Querystring: Record<string, string> }>('/', async (request, reply) => {
      const view = runsView(deps.queries(), request.query);
      return sendPage(reply, view.error === undefined ? 200 : 400, page('Runs', 'runs', runsPage(view), { signOut: signedIn(request) }));
    });

    scope.get<{ Params: { run_id: string }; Querystring: { revision?: string } }>('/runs/:run_id', async (request, reply) => {
      const revision = request.query.revision === undefined ? undefined : Number(request.query.revision);
      if (revision !== undefined && !(Number.isSafeInteger(revision) && revision >= 1)) {
        throw new ApiError('INVALID_QUERY', 'revision must be a positive integer');
      }
      const body = runView(deps, request.params.run_id, revision);
      if (body === undefined) throw new ApiError('RUN_NOT_FOUND', `run ${request.params.run_id}${revision ? ` has no revision ${revision}` : ' not found'}`);
      return sendPage(reply, 200, page(`Run ${request.params.run_id}`, 'runs', body, { signOut: signedIn(request) }));
    });

    scope.get<{ Params: { run_id: string } }>('/runs/:run_id/evidence.json', async (request, reply) => {
      const bundle = deps.evidence(request.params.run_id);
      if (bundle === undefined) throw new ApiError('RUN_NOT_FOUND', `run ${request.params.run_id} not found`);
      const fileName = `runledger-evidence-${request.params.run_id.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
      return reply
        .headers({ ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-disposition': `attachment; filename="${fileName}"` })
        .send(JSON.stringify(bundle, null, 2));
    });

    scope.get<{ Querystring: { verify?: string } }>('/integrity', async (request, reply) => {
      if (request.query.verify === undefined) return sendPage(reply, 200, page('Integrity', 'integrity', integrityPage({}), { signOut: signedIn(request) }));
      const started = performance.now();
      let body: SafeHtml;
      try {
        body = integrityPage({ report: await deps.verify(), durationMs: performance.now() - started });
      } catch (err) {
        deps.logger?.error({ err }, 'console verification failed');
        body = integrityPage({ error: err instanceof Error ? err.message : String(err) });
      }
      return sendPage(reply, 200, page('Integrity', 'integrity', body, { signOut: signedIn(request) }));
    });

    if (auth !== undefined) {
      scope.get<{ Querystring: { next?: string } }>('/sign-in', async (request, reply) =>
        sendPage(reply, 200, signInPage(safeNext(request.query.next))),
      );
      scope.post<{ Body: { token?: string; next?: string } }>('/sign-in', async (request, reply) => {
        const next = safeNext(request.body?.next);
        if (!auth.accepts(`Bearer ${request.body?.token ?? ''}`)) return sendPage(reply, 401, signInPage(next, 'That token is not accepted.'));
        const session = sessions.issue();
        const secure = request.protocol === 'https' ? '; Secure' : '';
        reply.header('set-cookie', `${SESSION_COOKIE}=${session.value}; Path=/; Max-Age=${session.maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`);
        return reply.redirect(next, 303);
      });
      scope.post('/sign-out', async (_request, reply) => {
        reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`);
        return reply.redirect('/sign-in', 303);
      });
    }
  });
}

function sendPage(reply: FastifyReply, status: number, body: SafeHtml): FastifyReply {
  return reply.code(status).headers({ ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }).send(body.text);
}

/** The runs page: the URL's filters applied through the same query as GET /api/v1/runs. */
function runsView(queries: RunQueries, raw: Record<string, string>): RunsView {
  const query: RunsQuery = {};
  for (const name of [...FILTER_NAMES, 'cursor'] as const) {
    const value = raw[name]?.trim();
    if (value) query[name] = value;
  }
  const empty = { query, runs: [], nextCursor: null, counts: { compliant: 0, incomplete: 0, violation: 0 } };
  try {
    const { cursor, ...filter } = runFilterOf(query);
    const page = listRuns(queries, { ...filter, ...(cursor !== undefined ? { cursor } : {}), limit: PAGE_SIZE });
    return { query, runs: page.runs, nextCursor: page.next_cursor, counts: queries.countByStatus(filter) };
  } catch (err) {
    if (err instanceof ApiError) return { ...empty, error: err.message.replace(/^querystring\//, '') };
    if (err instanceof InvalidCursorError) return { ...empty, error: 'This page link is not valid any more: start from the newest runs.' };
    throw err;
  }
}

function runView(deps: ConsoleDeps, runId: string, revision: number | undefined): SafeHtml | undefined {
  const queries = deps.queries();
  const run = showRun(queries, runId, revision);
  if (run === undefined || !isJudged(run)) return undefined;
  const numbers = run.revisions.map((r) => r.revision);
  const records = new Map(numbers.map((n) => [n, n === run.revision ? run : showRevision(queries, runId, n)]));
  const changes = new Map<number, string[]>();
  for (const n of numbers) {
    const before = records.get(n - 1);
    const after = records.get(n);
    if (before !== undefined && after !== undefined) changes.set(n, revisionChanges(before, after));
  }
  const chain = deps.chain();
  const proofs: RevisionProof[] = chain.revisionRowsOf(runId).map((row) => {
    const payload = JSON.parse(row.payload) as RevisionPayload;
    const text = queries.recordText(runId, payload.revision);
    return { revision: payload.revision, seq: row.seq, record_hash: row.record_hash, record_matches: text !== undefined && recordDigest(text) === payload.record_sha256 };
  });
  const latest = chain.latestCheckpoint();
  const checkpoint: CheckpointProof | null =
    latest === null
      ? null
      : {
          size: latest.size,
          created_at: new Date(Number(latest.created_ns / 1_000_000n)).toISOString(),
          key_id: latest.key_id,
          body: latest.body,
          signature: latest.signature,
          // Only the current key is at hand; a checkpoint signed before a rotation is left to /integrity.
          signature_valid:
            deps.publicKey !== undefined && keyIdOf(deps.publicKey) === latest.key_id ? verifyText(deps.publicKey, latest.body, latest.signature) : undefined,
        };
  return runPage({
    run,
    checklist: evidenceChecklist(run, deps.profiles, createFieldSource(deps.spans(runId), run.root_span_id, deps.fieldKeys)),
    changes,
    proofs,
    checkpoint,
    bundleHref: `/runs/${encodeURIComponent(runId)}/evidence.json`,
  });
}

/** Only a path on this server: never an absolute or scheme-relative URL (an open redirect). */
function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/(?![/\\])/.test(next) ? next : '/';
}

function signInPage(next: string, error?: string): SafeHtml {
  return page(
    'Sign in',
    'none',
    html`<h1>Sign in</h1>
<p>This runledger requires the HTTP API's bearer token (<code>http.auth.bearer_token_file</code>). It is checked once; the browser keeps only a session cookie that expires after 12 hours or when runledger restarts.</p>
${error !== undefined ? html`<p class="notice error" role="alert">${error}</p>` : ''}
<form method="post" action="/sign-in" class="sign-in">
  <input type="hidden" name="next" value="${next}">
  <div class="field"><label for="token">API bearer token</label><input id="token" name="token" type="password" autocomplete="current-password" required></div>
  <button type="submit">Sign in</button>
</form>`,
  );
}
