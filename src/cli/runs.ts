import type { RunRecord } from '../store/run-queries.js';

interface FindingView {
  code: string;
  severity: string;
  field?: string;
  span_id?: string;
  message: string;
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
  ];
  const findings = (run.findings as FindingView[] | undefined) ?? [];
  lines.push('', `findings (${findings.length})`);
  for (const f of findings) {
    lines.push(`  ${f.severity.padEnd(8)} ${f.code}${f.field ? ` [${f.field}]` : ''}${f.span_id ? ` span ${f.span_id}` : ''}: ${f.message}`);
  }
  const steps = (run.steps as StepView[] | undefined) ?? [];
  if (steps.length > 0) {
    lines.push('', 'steps');
    lines.push(
      table(
        ['STARTED', 'MS', 'TYPE', 'STATUS', 'NAME', 'SERVICE', 'EVIDENCE'],
        steps.map((s) => [
          s.started_at,
          s.duration_ms.toFixed(1),
          s.type,
          s.succeeded === false ? 'failed' : s.status,
          s.name,
          s.service ?? '-',
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

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
