import type { Finding } from '../evidence/findings.js';
import { RULES } from '../evidence/rules.js';
import type { Step } from '../evidence/steps.js';
import { isJudged, type RunSummary, type ShownRun } from '../api/run-record.js';

/** `runs list` as a readable table. */
export function formatRunTable(runs: readonly RunSummary[]): string {
  if (runs.length === 0) return 'no runs';
  const rows = runs.map((r) => [
    r.run_id,
    String(r.revision),
    r.workflow ?? '-',
    r.kind ?? '-',
    r.status,
    r.outcome,
    r.actor.id ?? '-',
    r.started_at ?? '-',
    r.findings.map((f) => f.code).join(',') || '-',
  ]);
  return table(['RUN', 'REV', 'WORKFLOW', 'KIND', 'STATUS', 'OUTCOME', 'ACTOR', 'STARTED', 'FINDINGS'], rows);
}

/** `runs show` as readable text: summary, findings, steps, revisions (a run not judged yet shows dashes). */
export function formatRun(run: ShownRun): string {
  const judged = isJudged(run) ? run : undefined;
  const lines = [
    `run ${run.run_id}  revision ${run.revision}  (${run.state})`,
    `  workflow  ${judged?.workflow ?? '-'}   kind ${judged?.kind ?? '-'}`,
    `  status    ${judged?.status ?? '-'}   outcome ${judged?.outcome ?? '-'}   declared ${judged?.declared_result ?? '-'}`,
    `  actor     ${judged?.actor.id ?? '-'} (${judged?.actor.type ?? 'type unknown'})`,
    `  time      ${judged?.started_at ?? '-'} → ${judged?.ended_at ?? '-'}`,
    `  profiles  ${(judged?.profiles ?? []).join(', ') || '-'}`,
  ];
  const findings = judged?.findings ?? [];
  const steps = judged?.steps ?? [];
  const stepName = new Map(steps.map((s) => [s.span_id, s.name]));
  lines.push('', `findings (${findings.length})`);
  for (const f of findings) lines.push(...explainFinding(f, stepName));
  if (steps.length > 0) {
    // The actor column only when some step acted as an identity of its own.
    const withActor = steps.some((s) => s.actor !== undefined);
    const actorOf = (s: Step) => (s.actor === undefined ? '-' : `${s.actor.id}${s.actor.registered === false ? ' (unregistered)' : ''}`);
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
  if (run.revisions.length > 0) {
    lines.push('', 'revisions');
    for (const r of run.revisions) lines.push(`  ${r.revision}  ${r.evaluated_at}  ${r.reason.padEnd(8)} ${r.status} / ${r.outcome}`);
  }
  return lines.join('\n');
}

/**
 * A finding as a person reads it: what is wrong, then the rule it breaks (and the profile that asks
 * for it), the spans it is about and the controls it maps to.
 */
function explainFinding(f: Finding, stepName: ReadonlyMap<string, string>): string[] {
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
