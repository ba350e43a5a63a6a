import type { FastifyInstance } from 'fastify';
import { FINDING_CODES } from '../evidence/findings.js';
import type { RunQueries } from '../store/run-queries.js';
import { InvalidCursorError } from '../store/run-queries.js';
import { ApiError } from './errors.js';
import type { EvidenceBundle } from './evidence-bundle.js';
import { RUN_STATUSES, runFilterOf, type RunsQuery } from './run-filter.js';
import { listRuns, showRun } from './run-record.js';

export interface RunsApiDeps {
  readonly queries: () => RunQueries;
  /** The evidence bundle of a run, or undefined when unknown. */
  readonly evidence: (runKey: string) => EvidenceBundle | undefined;
}

const listQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: RUN_STATUSES },
    workflow: { type: 'string', minLength: 1 },
    kind: { type: 'string', minLength: 1 },
    actor: { type: 'string', minLength: 1 },
    finding: { type: 'string', enum: Object.keys(FINDING_CODES) },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    cursor: { type: 'string', minLength: 1 },
  },
} as const;

interface ListQuery extends RunsQuery {
  limit: number;
}

const runParamsSchema = {
  type: 'object',
  properties: { run_id: { type: 'string', minLength: 1 } },
  required: ['run_id'],
} as const;

const showQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { revision: { type: 'integer', minimum: 1 } },
} as const;

/** /api/v1/runs: list, show, evidence bundle. */
export function registerRunsRoutes(app: FastifyInstance, deps: RunsApiDeps): void {
  app.get<{ Querystring: ListQuery }>('/api/v1/runs', { schema: { querystring: listQuerySchema } }, async (request) => {
    const q = request.query;
    safeInteger(q.limit, 'limit');
    try {
      return listRuns(deps.queries(), { ...runFilterOf(q), limit: q.limit });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new ApiError('INVALID_QUERY', `querystring/cursor: ${err.message}`);
      throw err;
    }
  });

  app.get<{ Params: { run_id: string }; Querystring: { revision?: number } }>(
    '/api/v1/runs/:run_id',
    { schema: { params: runParamsSchema, querystring: showQuerySchema } },
    async (request) => {
      safeInteger(request.query.revision, 'revision');
      const run = showRun(deps.queries(), request.params.run_id, request.query.revision);
      if (run === undefined) throw notFound(request.params.run_id, request.query.revision);
      return run;
    },
  );

  app.get<{ Params: { run_id: string } }>(
    '/api/v1/runs/:run_id/evidence',
    { schema: { params: runParamsSchema } },
    async (request) => {
      const bundle = deps.evidence(request.params.run_id);
      if (bundle === undefined) throw notFound(request.params.run_id);
      return bundle;
    },
  );
}

function notFound(runId: string, revision?: number): ApiError {
  return new ApiError('RUN_NOT_FOUND', revision === undefined ? `run ${runId} not found` : `run ${runId} has no revision ${revision}`);
}

/** Ajv coerces "1e400" to Infinity and then skips integer, minimum and maximum checks: refuse it here. */
function safeInteger(value: number | undefined, name: string): void {
  if (value !== undefined && !Number.isSafeInteger(value)) throw new ApiError('INVALID_QUERY', `querystring/${name} must be integer`);
}
