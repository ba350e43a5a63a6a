import { finding, type Finding } from '../findings.js';
import type { Check } from './check.js';

/**
 * grant.expires_at bounds the grant it belongs to: it parses, it lies after the grant ended, and the
 * grant lasts no longer than the profile allows. Each successful grant is read with its own
 * grant.expires_at (span, then resource), else the run's.
 */
export const checkGrantBounds: Check = ({ evidence, changes, profiles }) => {
  const findings: Finding[] = [];
  const runExpiry = evidence['grant.expires_at'];
  if (runExpiry !== undefined && parseInstant(runExpiry) === undefined) {
    findings.push(
      finding('invalid_field', `grant.expires_at "${runExpiry}" is neither RFC 3339 nor unix nanoseconds`, { field: 'grant.expires_at', rule: 'grant_expiry' }),
    );
  }
  const max = profiles.maxGrantDuration;
  for (const grant of changes.attempts) {
    if (grant.operation !== 'grant' || grant.failed) continue;
    const expiry = grant.evidence.read('grant.expires_at') ?? runExpiry;
    const expiresMs = expiry === undefined ? undefined : parseInstant(expiry);
    if (expiresMs === undefined) continue;
    const grantedMs = Number(grant.span.endNs / 1_000_000n);
    const lastsMs = expiresMs - grantedMs;
    const what = `grant of ${grant.target ?? '(no target)'}`;
    if (lastsMs <= 0) {
      findings.push(
        finding('invalid_field', `grant.expires_at ${expiry} is ${formatDuration(-lastsMs)} before the end of the ${what}`, {
          field: 'grant.expires_at',
          span_id: grant.span.spanId,
          rule: 'grant_expiry',
        }),
      );
    } else if (max !== undefined && lastsMs > max.minutes * 60_000) {
      findings.push(
        finding('grant_duration_exceeded', `${what} lasts ${formatDuration(lastsMs)} (until ${expiry}), over ${max.profile}'s maximum of ${formatDuration(max.minutes * 60_000)}`, {
          field: 'grant.expires_at',
          span_id: grant.span.spanId,
          profile: max.profile,
        }),
      );
    }
  }
  return findings;
};

/** RFC 3339 or unix nanoseconds → epoch ms; undefined when neither. */
export function parseInstant(value: string): number | undefined {
  if (/^\d{16,20}$/.test(value)) return Number(BigInt(value) / 1_000_000n);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** "3d 4h", "24h", "1h 30m", "45s": the two largest units that are not zero. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of units) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || parts.length > 0) parts.push(`${count}${unit}`);
    if (parts.length === 2) break;
  }
  const shown = parts.filter((p) => !p.startsWith('0'));
  return shown.length > 0 ? shown.join(' ') : `${Math.round(ms)}ms`;
}
