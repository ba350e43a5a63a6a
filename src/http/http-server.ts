import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Component } from '../pipeline/component.js';
import { parseEndpoint } from '../config/endpoint.js';
import type { HttpConfig } from './config.js';
import { ApiError } from '../api/errors.js';
import { BearerTokenCheck } from '../auth/bearer-token.js';
import { registerRunsRoutes, type RunsApiDeps } from '../api/runs-routes.js';
import { registerConsoleRoutes, type ConsoleDeps } from '../console/console-routes.js';

export interface HealthProbe {
  /** Names of the parts that are not ready; empty when ready. */
  notReady(): string[];
}

export interface HttpAppDeps {
  readonly registry: Registry;
  readonly health: HealthProbe;
  /** The run history API; absent in tests of the probes alone. */
  readonly runs?: RunsApiDeps;
  /** The web console's pages; absent in tests of the API alone. */
  readonly console?: ConsoleDeps;
  readonly logger?: Logger;
  /** When set, /api/ requests must carry this bearer token. */
  readonly auth?: BearerTokenCheck;
}

/** Builds the HTTP app without listening, so tests can use app.inject(). */
export function buildHttpApp(deps: HttpAppDeps): FastifyInstance {
  const app = Fastify({ logger: false, ajv: { customOptions: { coerceTypes: true, removeAdditional: false } } });
  // Every error is JSON with a stable code (see src/api/errors.ts).
  app.setErrorHandler((err: Error & { validation?: unknown; validationContext?: string; statusCode?: number }, _request, reply) => {
    if (err instanceof ApiError) return reply.code(err.statusCode).send(err.toJSON());
    if (err.validation !== undefined) {
      return reply.code(400).send(new ApiError('INVALID_QUERY', validationMessage(err)).toJSON());
    }
    deps.logger?.error({ err }, 'HTTP request failed');
    return reply.code(500).send(new ApiError('INTERNAL', 'internal error').toJSON());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(new ApiError('ROUTE_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`).toJSON()),
  );
  const auth = deps.auth;
  if (auth !== undefined) {
    app.addHook('onRequest', async (request) => {
      // The matched route, not the raw URL: the router decodes escapes like /%61pi/ before matching.
      if ((request.routeOptions.url ?? '').startsWith('/api/') && !auth.accepts(request.headers.authorization)) {
        throw new ApiError('UNAUTHENTICATED', 'missing or invalid bearer token');
      }
    });
  }
  if (deps.runs !== undefined) registerRunsRoutes(app, deps.runs);
  if (deps.console !== undefined) registerConsoleRoutes(app, deps.console, auth);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const notReady = deps.health.notReady();
    if (notReady.length > 0) return reply.code(503).send({ status: 'not_ready', not_ready: notReady });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.registry.contentType);
    return deps.registry.metrics();
  });
  return app;
}

/** Ajv's message, naming the parameter where Ajv leaves it out (an unknown one). */
function validationMessage(err: { message: string; validation?: unknown; validationContext?: string }): string {
  const first = (err.validation as Array<{ keyword?: string; params?: { additionalProperty?: unknown } }>)[0];
  if (first?.keyword === 'additionalProperties' && typeof first.params?.additionalProperty === 'string') {
    return `${err.validationContext ?? 'querystring'}/${first.params.additionalProperty} is not a known parameter`;
  }
  return err.message;
}

const SHUTDOWN_GRACE_MS = 2000;

export class HttpServer implements Component {
  private app: FastifyInstance | undefined;
  private boundPort = 0;

  constructor(
    private readonly config: HttpConfig,
    private readonly deps: HttpAppDeps & { logger: Logger },
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const auth = this.config.auth === undefined ? undefined : new BearerTokenCheck(this.config.auth.bearer_token_file);
    const app = buildHttpApp({ ...this.deps, ...(auth ? { auth } : {}) });
    const { host, port } = parseEndpoint(this.config.endpoint);
    await app.listen({ host, port });
    const address = app.server.address();
    this.boundPort = typeof address === 'object' && address !== null ? address.port : port;
    this.app = app;
    this.deps.logger.info({ endpoint: this.config.endpoint, port: this.boundPort }, 'HTTP server listening');
  }

  async shutdown(): Promise<void> {
    const app = this.app;
    if (app === undefined) return;
    this.app = undefined;
    // A browser keeps connections it opened ahead of use; Node counts them as busy until their headers
    // time out (60 s), which would hold the shutdown. Requests still running get a short grace instead.
    const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    try {
      await app.close();
    } finally {
      clearTimeout(force);
    }
  }
}
