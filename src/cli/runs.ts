import { RULES, type RuleId } from '../evidence/rules.js';
import type { RunRecord } from '../store/run-queries.js';

interface FindingView {
  code: string;
  severity: string;
  rule?: RuleId;
  profile?: string;
  field?: string;
  span_id?: string;
  span_ids?: string[];
  message: string;
  controls?: string[];
}

interface StepView {
  span_id: string;
  name: string;
  type: string;
  status: string;
  started_at: string;
  duration_ms: number;
  service: string | null;
  evidence: Record<string, string>;
  succeeded?: boolean;
  actor?: { id: string; registered?: boolean };
}

/** `runs list` as a readable table. */
export function formatRunTable(runs: readonly RunRecord[]): string {
  if (runs.length === 0) return 'no runs';
  const rows = runs.map((r) => [
    String(r.run_id),
    String(r.revision),
    String(r.workflow ?? '-'),
    String(r.kind ?? '-'),
    String(r.status),
    String(r.outcome),
    String((r.actor as { id?: string } | undefined)?.id ?? '-'),
    String(r.started_at ?? '-'),
    ((r.findings as FindingView[] | undefined) ?? []).map((f) => f.code).join(',') || '-',
  ]);
  return table(['RUN', 'REV', 'WORKFLOW', 'KIND', 'STATUS', 'OUTCOME', 'ACTOR', 'STARTED', 'FINDINGS'], rows);
}

/** `runs show` as readable text: summary, findings, steps, revisions. */
export function formatRun(run: RunRecord): string {
  const actor = (run.actor as { id?: string; type?: string } | undefined) ?? {};
  const lines = [
    `run ${run.run_id}  revision ${run.revision}  (${run.state})`,
    `  workflow  ${run.workflow ?? '-'}   kind ${run.kind ?? '-'}`,
    `  status    ${run.status ?? '-'}   outcome ${run.outcome ?? '-'}   declared ${run.declared_result ?? '-'}`,
    `  actor     ${actor.id ?? '-'} (${actor.type ?? 'type unknown'})`,
    `  time      ${run.started_at ?? '-'} → ${run.ended_at ?? '-'}`,
    `  profiles  ${((run.profiles as string[] | undefined) ?? []).join(', ') || '-'}`,
  ];
  const findings = (run.findings as FindingView[] | undefined) ?? [];
  const steps = (run.steps as StepView[] | undefined) ?? [];
  const stepName = new Map(steps.map((s) => [s.span_id, s.name]));
  lines.push('', `findings (${findings.length})`);
  for (const f of findings) lines.push(...explainFinding(f, stepName));
  if (steps.length > 0) {
    // The actor column only when some step acted as an identity of its own.
    const withActor = steps.some((s) => s.actor !== undefined);
    const actorOf = (s: StepView) => (s.actor === undefined ? '-' : `${s.actor.id}${s.actor.registered === false ? ' (unregistered)' : ''}`);
    lines.push('', 'steps');
    lines.push(
      table(
        ['STARTED', 'MS', 'TYPE', 'STATUS', 'NAME', 'SERVICE', ...(withActor ? ['ACTOR'] : []), 'EVIDENCE'],
        steps.map((s) => [
          s.started_at,
          s.duration_ms.toFixed(1),
          s.type,
          s.succeeded === false ? 'failed' : s.status,
          s.name,
          s.service ?? '-',
          ...(withActor ? [actorOf(s)] : []),
          Object.entries(s.evidence)
            .map(([k, v]) => `${k}=${v}`)
            .join(' '),
        ]),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  if (run.revisions !== undefined && run.revisions.length > 0) {
    lines.push('', 'revisions');
    for (const r of run.revisions) lines.push(`  ${r.revision}  ${r.evaluated_at}  ${r.reason.padEnd(8)} ${r.status} / ${r.outcome}`);
  }
  return lines.join('\n');
}

/**
 * A finding as a person reads it: what is wrong, then the rule it breaks (and the profile that asks
 * for it), the spans it is about and the controls it maps to.
 */
function explainFinding(f: FindingView, stepName: ReadonlyMap<string, string>): string[] {
  const spanIds = f.span_ids ?? (f.span_id !== undefined ? [f.span_id] : []);
  const lines = [`  ${f.severity.padEnd(8)} ${f.code}${f.field ? ` [${f.field}]` : ''}${spanIds.length === 1 ? ` span ${spanIds[0]}` : ''}: ${f.message}`];
  const indent = ' '.repeat(11);
  if (f.rule !== undefined) {
    const statement = RULES[f.rule] as string | undefined;
    lines.push(`${indent}rule ${f.rule}${f.profile !== undefined ? ` of profile ${f.profile}` : ''}${statement !== undefined ? `: ${statement}` : ''}`);
  }
  if (spanIds.length > 1) lines.push(`${indent}spans ${spanIds.map((id) => `${id} (${stepName.get(id) ?? '?'})`).join(', ')}`);
  if (f.controls !== undefined && f.controls.length > 0) lines.push(`${indent}controls ${f.controls.join(', ')}`);
  return lines;
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
