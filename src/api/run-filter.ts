import { FINDING_CODES } from '../evidence/findings.js';
import type { RunFilter } from '../store/run-queries.js';
import { ApiError } from './errors.js';

export const RUN_STATUSES = ['compliant', 'incomplete', 'violation'] as const;

/** The runs list's filters as a URL carries them, read by GET /api/v1/runs and the console's runs page. */
export interface RunsQuery {
  status?: string;
  workflow?: string;
  kind?: string;
  actor?: string;
  finding?: string;
  /** RFC 3339 date-times, as given. */
  since?: string;
  until?: string;
  cursor?: string;
}

export const FILTER_NAMES = ['status', 'workflow', 'kind', 'actor', 'finding', 'since', 'until'] as const;

/** The store filter a query asks for; throws INVALID_QUERY naming the parameter that cannot apply. */
export function runFilterOf(query: RunsQuery): RunFilter {
  const { status, workflow, kind, actor, finding, since, until, cursor } = query;
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new ApiError('INVALID_QUERY', `querystring/status must be one of ${RUN_STATUSES.join(', ')}`);
  }
  if (finding !== undefined && !(finding in FINDING_CODES)) throw new ApiError('INVALID_QUERY', `querystring/finding: ${finding} is not a finding code`);
  return {
    ...(status !== undefined ? { status } : {}),
    ...(workflow !== undefined ? { workflow } : {}),
    ...(kind !== undefined ? { kind } : {}),
    ...(actor !== undefined ? { actor } : {}),
    ...(finding !== undefined ? { finding } : {}),
    ...(since !== undefined ? { since: epochMs(since, 'since') } : {}),
    ...(until !== undefined ? { until: epochMs(until, 'until') } : {}),
    ...(cursor !== undefined ? { cursor } : {}),
  };
}

/** Epoch ms of an RFC 3339 date-time; a leap second (:60) is the start of the next second. */
export function epochMs(value: string, name: string): number {
  let ms = Date.parse(value);
  if (Number.isNaN(ms)) ms = Date.parse(value.replace(/([Tt ]\d{2}:\d{2}:)60/, (_, prefix: string) => `${prefix}59`)) + 1000;
  if (Number.isNaN(ms)) throw new ApiError('INVALID_QUERY', `querystring/${name} must be an RFC 3339 date-time`);
  return ms;
}
