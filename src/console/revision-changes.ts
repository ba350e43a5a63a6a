/** The parts of a shown revision compared between revisions. */
export interface ComparedRevision {
  readonly status?: unknown;
  readonly outcome?: unknown;
  readonly span_count?: unknown;
  readonly ended_at?: unknown;
  readonly evidence?: Readonly<Record<string, string>>;
  readonly findings?: ReadonlyArray<{ readonly code: string; readonly message: string }>;
  readonly steps?: ReadonlyArray<{ readonly span_id: string; readonly name: string }>;
}

/** What changed from one revision of a run to the next, one sentence each, for people to read. */
export function revisionChanges(before: ComparedRevision, after: ComparedRevision): string[] {
  const changes: string[] = [];
  for (const key of ['status', 'outcome', 'span_count', 'ended_at'] as const) {
    if (before[key] !== after[key]) changes.push(`${key}: ${show(before[key])} → ${show(after[key])}`);
  }
  const oldEvidence = before.evidence ?? {};
  const newEvidence = after.evidence ?? {};
  for (const field of new Set([...Object.keys(oldEvidence), ...Object.keys(newEvidence)])) {
    if (oldEvidence[field] !== newEvidence[field]) changes.push(`${field}: ${show(oldEvidence[field])} → ${show(newEvidence[field])}`);
  }
  const findingKey = (f: { code: string; message: string }) => `${f.code}: ${f.message}`;
  const oldFindings = new Set((before.findings ?? []).map(findingKey));
  const newFindings = new Set((after.findings ?? []).map(findingKey));
  for (const f of newFindings) if (!oldFindings.has(f)) changes.push(`finding added — ${f}`);
  for (const f of oldFindings) if (!newFindings.has(f)) changes.push(`finding cleared — ${f}`);
  const oldSpans = new Set((before.steps ?? []).map((s) => s.span_id));
  const added = (after.steps ?? []).filter((s) => !oldSpans.has(s.span_id));
  if (added.length > 0) {
    const names = added.slice(0, 5).map((s) => `"${s.name}"`).join(', ');
    changes.push(`${added.length} span${added.length === 1 ? '' : 's'} added: ${names}${added.length > 5 ? ', …' : ''}`);
  }
  return changes;
}

const show = (value: unknown): string => (value === undefined || value === null ? '(none)' : String(value));
