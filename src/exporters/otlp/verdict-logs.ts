import { ExportLogsServiceRequest } from '../../otlp/proto.js';
import type { ForwardVerdictRow } from '../../store/forward-store.js';
import { RUNLEDGER_VERSION } from '../../version.js';

export const VERDICT_EVENT_NAME = 'runledger.run.evaluated';

/** SeverityNumber by run status: a violation is an error to a SIEM, missing evidence a warning. */
const SEVERITY: Readonly<Record<string, { number: number; text: string }>> = {
  compliant: { number: 9, text: 'INFO' },
  incomplete: { number: 13, text: 'WARN' },
  violation: { number: 17, text: 'ERROR' },
};

/** The part of a stored revision record a verdict log carries. */
interface RevisionRecord {
  readonly run_id?: string;
  readonly workflow?: string | null;
  readonly kind?: string | null;
  readonly status?: string;
  readonly outcome?: string;
  readonly reason?: string;
  readonly evaluated_at?: string;
  readonly actor?: { readonly id?: string | null; readonly registered?: boolean };
  readonly root_span_id?: string | null;
  readonly trace_ids?: readonly string[];
  readonly findings?: ReadonlyArray<{ readonly code: string; readonly severity: string; readonly controls?: readonly string[] }>;
}

type Value = { stringValue: string } | { intValue: number } | { boolValue: boolean } | { arrayValue: { values: Value[] } } | { kvlistValue: { values: KeyValue[] } };
interface KeyValue {
  key: string;
  value: Value;
}

const str = (value: string): Value => ({ stringValue: value });
const list = (values: Value[]): Value => ({ arrayValue: { values } });

/**
 * One OTLP log record per sealed run revision (event `runledger.run.evaluated`), so a Collector's log
 * pipeline or a SIEM receives the audit stream: the verdict, its findings with their control
 * references, and the chain position and hash that prove it. The record is read from the store, never
 * recomputed; a revision whose record retention removed is sent with what the chain still holds.
 */
export function encodeVerdictLogs(rows: readonly ForwardVerdictRow[], observedNs: bigint): Uint8Array {
  const logRecords = rows.map((row) => verdictRecord(row, observedNs));
  const message = ExportLogsServiceRequest.fromObject({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: str('runledger') }, { key: 'service.version', value: str(RUNLEDGER_VERSION) }] },
        scopeLogs: [{ scope: { name: 'runledger', version: RUNLEDGER_VERSION }, logRecords }],
      },
    ],
  });
  return ExportLogsServiceRequest.encode(message).finish();
}

function verdictRecord(row: ForwardVerdictRow, observedNs: bigint): Record<string, unknown> {
  const record = row.record === null ? {} : (JSON.parse(row.record) as RevisionRecord);
  const attributes: KeyValue[] = [
    { key: 'runledger.run.id', value: str(record.run_id ?? row.runKey) },
    { key: 'runledger.run.revision', value: { intValue: row.revision } },
    { key: 'runledger.chain.seq', value: { intValue: row.seq } },
    { key: 'runledger.chain.record_hash', value: str(row.recordHash) },
  ];
  const text = (key: string, value: string | null | undefined) => {
    if (value != null) attributes.push({ key, value: str(value) });
  };
  text('runledger.run.workflow', record.workflow);
  text('runledger.run.kind', record.kind);
  text('runledger.run.status', record.status);
  text('runledger.run.outcome', record.outcome);
  text('runledger.run.reason', record.reason);
  text('runledger.actor.id', record.actor?.id);
  if (record.actor?.registered !== undefined) attributes.push({ key: 'runledger.actor.registered', value: { boolValue: record.actor.registered } });
  if (record.trace_ids !== undefined) attributes.push({ key: 'runledger.run.trace_ids', value: list(record.trace_ids.map(str)) });
  if (record.findings !== undefined) {
    attributes.push({ key: 'runledger.run.finding_codes', value: list([...new Set(record.findings.map((f) => f.code))].map(str)) });
    attributes.push({
      key: 'runledger.run.findings',
      value: list(
        record.findings.map((f) => ({
          kvlistValue: {
            values: [
              { key: 'code', value: str(f.code) },
              { key: 'severity', value: str(f.severity) },
              { key: 'controls', value: list((f.controls ?? []).map(str)) },
            ],
          },
        })),
      ),
    });
  }
  if (row.record === null) attributes.push({ key: 'runledger.run.record_pruned', value: { boolValue: true } });
  const severity = SEVERITY[record.status ?? ''];
  const traceId = record.trace_ids?.[0];
  return {
    timeUnixNano: row.createdNs.toString(),
    observedTimeUnixNano: observedNs.toString(),
    ...(severity === undefined ? {} : { severityNumber: severity.number, severityText: severity.text }),
    eventName: VERDICT_EVENT_NAME,
    body: str(`run ${record.run_id ?? row.runKey} revision ${row.revision}: ${record.status ?? 'unknown'}, outcome ${record.outcome ?? 'unknown'}`),
    attributes,
    // The run's first trace (all are in runledger.run.trace_ids), and its root span when the run has
    // one trace, so a log backend links the verdict to the trace.
    ...(traceId === undefined ? {} : { traceId: Buffer.from(traceId, 'hex') }),
    ...(record.trace_ids?.length !== 1 || record.root_span_id == null ? {} : { spanId: Buffer.from(record.root_span_id, 'hex') }),
  };
}
