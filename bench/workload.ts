/**
 * Realistic OTLP trace load for the benchmarks: ExportTraceServiceRequests of workflow runs (a root span
 * carrying `nhi.workflow.run.id` and children reached through the trace), encoded once, before anything
 * is timed.
 *
 * Every trace id is `salt(4) | sequence(8) | template(2) | run(2)`, and every value that identifies one
 * run or one event (run id, trigger event id, policy decision id, tool call id, request id) holds a
 * 12-hex-digit sequence field. A template is encoded with placeholders there; `stampRequest` copies it
 * and writes a fresh sequence into all of them in place (offsets found once), so each request sent
 * carries ids never seen before. Replaying a pool unchanged would measure something else: the store
 * ignores a duplicate (trace_id, span_id), and a repeated run id joins (and re-judges) an old run.
 * Timestamps move with the clock the same way: a pool's few hundred fixed start times, replayed, made
 * every index ordered by start time (the runs list's) take its rows at random places instead of at its
 * end, as an exporter's advancing clock does (about a third of what judging wrote per run).
 */
import { ExportTraceServiceRequest } from '../src/otlp/proto.js';

export interface WorkloadShape {
  readonly spansPerRequest: number;
  readonly attributesPerSpan: number;
  /** Spans per workflow run: one root and `spansPerRun - 1` children, all in one trace. */
  readonly spansPerRun: number;
}

export const DEFAULT_SHAPE: WorkloadShape = { spansPerRequest: 512, attributesPerSpan: 12, spansPerRun: 16 };

export interface EncodedRequest {
  readonly bytes: Buffer;
  /** Offset of each span's 16 trace id bytes in `bytes`. */
  readonly traceIdOffsets: Uint32Array;
  /** Offset of each 12-hex-digit sequence field in the unique string values. */
  readonly textOffsets: Uint32Array;
  /** Offset of each span and event timestamp (fixed64), which stampRequest moves to the time of sending. */
  readonly timeOffsets: Uint32Array;
  /** When the template was encoded (ns since the epoch): its timestamps are this far from their sending. */
  readonly encodedAtNs: bigint;
  readonly spans: number;
  /** Mean encoded size of one span attribute (KeyValue with its field tag), in bytes. */
  readonly meanAttributeBytes: number;
}

/** Small deterministic PRNG (mulberry32), so a seed reproduces the same pool. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  hex(chars: number): string {
    let out = '';
    while (out.length < chars) out += (this.int(0x10000) | 0x10000).toString(16).slice(1);
    return out.slice(0, chars);
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    if (b.every((x) => x === 0)) b[0] = 1;
    return b;
  }
}

const ACCOUNTS = ['123456789012', '210987654321', '555566667777', '998877665544'];
const REGIONS = ['eu-west-1', 'us-east-1', 'us-west-2', 'ap-southeast-2'];
const DEFINITION_HASHES = ['9f2c4e1a7b3d5f60', '0d8e7c6b5a493827', 'c1b2a3f4e5d6c7b8', '5e4d3c2b1a0f9e8d'];
const WORKFLOWS = [
  'rotate-service-account-keys/prod-eu-west-1',
  'provision-workload-identity/payments-api',
  'revoke-stale-api-tokens/nightly-sweep-emea',
  'agent-remediation/iam-drift-auto-fix-prod',
];
const KINDS = ['scheduled.credential-rotation', 'ci.deploy-pipeline.prod', 'agent.autonomous-remediation'];
const TOOLS: ReadonlyArray<readonly [tool: string, operation: string]> = [
  ['aws.iam.UpdateAssumeRolePolicy', 'iam:UpdateAssumeRolePolicy'],
  ['aws.iam.CreateAccessKey', 'iam:CreateAccessKey'],
  ['aws.secretsmanager.PutSecretValue', 'secretsmanager:PutSecretValue'],
  ['aws.sts.AssumeRoleWithWebIdentity', 'sts:AssumeRoleWithWebIdentity'],
  ['github.actions.CreateOIDCToken', 'github:actions/oidc-token:create'],
];

type Attr = readonly [key: string, value: string];
export type AttrValue = string | number | boolean;

/** Makes ids unique per request sent: `mark` (12 hex digits) is overwritten by the request's sequence. */
export interface UniqueIds {
  readonly mark: string;
  count: number;
}

/** `prefix` + the stamped sequence + an occurrence number (unique within the request) + padding. */
export function uniqueId(ids: UniqueIds, rng: Rng, padding: number, prefix = ''): string {
  const occurrence = (ids.count++).toString(16).padStart(6, '0');
  return `${prefix}${ids.mark}${occurrence}${rng.hex(padding)}`;
}

/** A UUID-shaped id whose last group is the stamped sequence. */
export function uniqueUuid(ids: UniqueIds, rng: Rng): string {
  const occurrence = (ids.count++).toString(16).padStart(8, '0');
  return `${occurrence}-${rng.hex(4)}-4${rng.hex(3)}-a${rng.hex(3)}-${ids.mark}`;
}

/** A run's trace id: the pool's salt, then the template and the run (stampRequest writes the sequence between). */
export function runTraceId(salt: Buffer, templateIndex: number, run: number): Buffer {
  const traceId = Buffer.alloc(16);
  salt.copy(traceId, 0);
  traceId.writeUInt16BE(templateIndex & 0xffff, 12);
  traceId.writeUInt16BE(run & 0xffff, 14);
  return traceId;
}

function arn(rng: Rng): string {
  return `arn:aws:iam::${rng.pick(ACCOUNTS)}:role/ci-deploy-${rng.hex(6)}`;
}

function actor(rng: Rng): string {
  return `spiffe://corp.internal/ns/ci/sa/bot-${rng.hex(6)}`;
}

/** The root of a run: the run identity and who ran it. */
function rootAttributes(rng: Rng, ids: UniqueIds): Attr[] {
  const workflow = rng.int(WORKFLOWS.length);
  return [
    ['nhi.workflow.run.id', uniqueId(ids, rng, 14, 'wfr_')],
    ['nhi.workflow.name', WORKFLOWS[workflow]!],
    ['nhi.workflow.kind', rng.pick(KINDS)],
    ['nhi.workflow.definition.hash', `sha256:${DEFINITION_HASHES[workflow]}${DEFINITION_HASHES[workflow]}`],
    ['nhi.actor.id', actor(rng)],
    ['nhi.actor.type', 'kubernetes-service-account/workload-id'],
    ['nhi.actor.authn', 'oidc:https://token.actions.githubusercontent.com'],
    ['nhi.trigger.kind', `schedule:cron(0 */6 * * *)/${rng.hex(12)}`],
    ['nhi.trigger.event_id', uniqueUuid(ids, rng)],
    ['nhi.requester.id', `user:oncall-${rng.hex(8)}@platform.example.com`],
    ['nhi.change.target', arn(rng)],
    ['nhi.workflow.result', 'success'],
  ];
}

/** A step of a run: a tool call changing a cloud resource under a policy decision. */
function childAttributes(rng: Rng, ids: UniqueIds, failed: boolean): Attr[] {
  const [tool, operation] = rng.pick(TOOLS);
  const region = rng.pick(REGIONS);
  return [
    ['gen_ai.operation.name', 'execute_tool/cloud-control-plane-write'],
    ['gen_ai.tool.name', tool],
    ['gen_ai.tool.call.id', uniqueId(ids, rng, 14, 'call_')],
    ['nhi.change.operation', operation],
    ['nhi.change.target', arn(rng)],
    ['cloud.resource_id', `arn:aws:lambda:${region}:${rng.pick(ACCOUNTS)}:function:rot-${rng.hex(4)}`],
    ['nhi.policy.id', `policy://opa/nhi/credential-rotation/v${1 + rng.int(9)}`],
    ['nhi.policy.decision_id', uniqueUuid(ids, rng)],
    ['nhi.policy.revision', `rev-${rng.hex(36)}`],
    ['nhi.actor.id', actor(rng)],
    ['nhi.policy.decision', failed ? 'deny' : 'allow'],
    ['aws.request_id', uniqueUuid(ids, rng)],
  ];
}

function fitAttributes(attrs: Attr[], count: number, rng: Rng): Attr[] {
  const out = attrs.slice(0, count);
  for (let i = out.length; i < count; i++) out.push([`nhi.extra.attribute_${i}`, `${rng.hex(36)}`]);
  return out;
}

function anyValue(value: AttrValue): Record<string, unknown> {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
}

/** OTLP KeyValues (strings, booleans, integers and doubles as such). */
export const keyValues = (attrs: ReadonlyArray<readonly [key: string, value: AttrValue]>) => attrs.map(([key, value]) => ({ key, value: anyValue(value) }));

/** Encoded size of a KeyValue as a repeated field of Span (tag + length + body). */
function keyValueBytes([key, value]: Attr): number {
  const len = (n: number) => (n < 128 ? 1 : n < 16384 ? 2 : 3);
  const k = Buffer.byteLength(key);
  const v = Buffer.byteLength(value);
  const any = 1 + len(v) + v; // AnyValue { string_value }
  const body = 1 + len(k) + k + 1 + len(any) + any;
  return 1 + len(body) + body;
}

/**
 * Builds and encodes one request: `spansPerRequest` spans in runs of `spansPerRun`, children first (an SDK
 * exports spans as they end, and a root ends last), the root of each run last.
 */
export function buildRequest(shape: WorkloadShape, templateIndex: number, seed: number): EncodedRequest {
  const rng = new Rng(seed * 7919 + templateIndex * 104729 + 1);
  const salt = new Rng(seed).bytes(4);
  const ids: UniqueIds = { mark: rng.hex(12), count: 0 };
  const baseNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const traceIds: Buffer[] = [];
  const spans: Record<string, unknown>[] = [];
  let attributeBytes = 0;
  let attributeCount = 0;

  const runs = Math.ceil(shape.spansPerRequest / shape.spansPerRun);
  for (let run = 0; run < runs && spans.length < shape.spansPerRequest; run++) {
    const traceId = runTraceId(salt, templateIndex, run);
    traceIds.push(traceId);
    const rootId = rng.bytes(8);
    const runStart = baseNs + BigInt(run) * 1_000_000_000n;
    const children = Math.min(shape.spansPerRun, shape.spansPerRequest - spans.length) - 1;
    const span = (attrs: Attr[], fields: Record<string, unknown>) => {
      const fitted = fitAttributes(attrs, shape.attributesPerSpan, rng);
      for (const a of fitted) attributeBytes += keyValueBytes(a);
      attributeCount += fitted.length;
      spans.push({ traceId, attributes: keyValues(fitted), ...fields });
    };
    let t = runStart + 1_000_000n;
    for (let c = 0; c < children; c++) {
      const duration = BigInt(2 + rng.int(40)) * 1_000_000n;
      const failed = rng.int(50) === 0;
      const region = rng.pick(REGIONS);
      span(childAttributes(rng, ids, failed), {
        spanId: rng.bytes(8),
        parentSpanId: rootId,
        name: `tool ${rng.pick(TOOLS)[0]}`,
        kind: 3, // CLIENT
        startTimeUnixNano: t.toString(),
        endTimeUnixNano: (t + duration).toString(),
        events: [
          {
            timeUnixNano: (t + duration / 2n).toString(),
            name: 'nhi.policy.evaluated',
            attributes: keyValues([['server.address', `iam.${region}.amazonaws.com`]]),
          },
        ],
        status: failed ? { code: 2, message: 'AccessDenied: explicit deny in SCP' } : {},
      });
      t += duration + 500_000n;
    }
    span(rootAttributes(rng, ids), {
      spanId: rootId,
      name: 'workflow run',
      kind: 1, // INTERNAL
      startTimeUnixNano: runStart.toString(),
      endTimeUnixNano: (t + 1_000_000n).toString(),
      events: [
        {
          timeUnixNano: runStart.toString(),
          name: 'nhi.credential.issued',
          attributes: keyValues([['nhi.grant.expires_at', new Date(Number(runStart / 1_000_000n) + 3_600_000).toISOString()]]),
        },
      ],
      status: { code: 1 },
    });
  }

  return { ...encodeSpans(spans, traceIds, { seed, templateIndex, mark: ids.mark, textFields: ids.count }), meanAttributeBytes: attributeBytes / attributeCount };
}

/**
 * Encodes spans as one request from the workload's resource and scope, and finds where stampRequest writes:
 * every span's trace id, and the `textFields` values holding `mark`.
 */
export function encodeSpans(
  spans: Record<string, unknown>[],
  traceIds: readonly Buffer[],
  at: { readonly seed: number; readonly templateIndex: number; readonly mark: string; readonly textFields: number },
): Omit<EncodedRequest, 'meanAttributeBytes'> {
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: [
      {
        resource: {
          attributes: keyValues([
            ['service.name', 'nhi-automation-runner'],
            ['service.version', '4.12.3'],
            ['deployment.environment.name', 'production'],
            ['k8s.namespace.name', 'platform-automation'],
            ['k8s.pod.name', `runner-${new Rng(at.seed + at.templateIndex).hex(10)}`],
            ['cloud.region', 'eu-west-1'],
          ]),
        },
        scopeSpans: [{ scope: { name: '@nhi/workflow-sdk', version: '2.3.0' }, spans }],
      },
    ],
  });
  const bytes = Buffer.from(ExportTraceServiceRequest.encode(message).finish());

  // Every span carries its trace id once; find them all (16 random-salted bytes cannot occur by chance).
  const offsets: number[] = [];
  for (const id of traceIds) {
    for (let pos = bytes.indexOf(id); pos >= 0; pos = bytes.indexOf(id, pos + 16)) offsets.push(pos);
  }
  if (offsets.length !== spans.length) {
    throw new Error(`found ${offsets.length} trace ids in the encoding of ${spans.length} spans`);
  }
  const mark = Buffer.from(at.mark, 'latin1');
  const textOffsets: number[] = [];
  for (let pos = bytes.indexOf(mark); pos >= 0; pos = bytes.indexOf(mark, pos + mark.length)) textOffsets.push(pos);
  if (textOffsets.length !== at.textFields) {
    throw new Error(`found ${textOffsets.length} sequence fields in the encoding, expected ${at.textFields}`);
  }
  const timeOffsets = findTimestamps(bytes, spans);
  return {
    bytes,
    traceIdOffsets: Uint32Array.from(offsets),
    textOffsets: Uint32Array.from(textOffsets),
    timeOffsets,
    encodedAtNs: BigInt(Date.now()) * 1_000_000n,
    spans: spans.length,
  };
}

/** Field tags of the fixed64 timestamps: Span.start_time_unix_nano (7), end_time_unix_nano (8), Event.time_unix_nano (1). */
const TIME_TAGS = new Set([0x39, 0x41, 0x09]);

/**
 * Where the spans' timestamps are: a time tag followed by a value inside the spans' time window. No other
 * eight bytes of a request fall inside a window of minutes by chance; the count checks it.
 */
function findTimestamps(bytes: Buffer, spans: readonly Record<string, unknown>[]): Uint32Array {
  const times: bigint[] = [];
  for (const span of spans) {
    times.push(BigInt(span.startTimeUnixNano as string), BigInt(span.endTimeUnixNano as string));
    for (const event of (span.events as Array<{ timeUnixNano: string }> | undefined) ?? []) times.push(BigInt(event.timeUnixNano));
  }
  let [min, max] = [times[0]!, times[0]!];
  for (const t of times) [min, max] = [t < min ? t : min, t > max ? t : max];
  const offsets: number[] = [];
  for (let pos = 0; pos + 9 <= bytes.length; pos++) {
    if (!TIME_TAGS.has(bytes[pos]!)) continue;
    const value = bytes.readBigUInt64LE(pos + 1);
    if (value >= min && value <= max) {
      offsets.push(pos + 1);
      pos += 8;
    }
  }
  if (offsets.length !== times.length) throw new Error(`found ${offsets.length} timestamps in the encoding, expected ${times.length}`);
  return Uint32Array.from(offsets);
}

/** Writes `template` into `target` with `sequence` in every trace id and timestamps as of now; returns the view to send. */
export function stampRequest(template: EncodedRequest, target: Buffer, sequence: bigint): Buffer {
  template.bytes.copy(target, 0);
  const shiftNs = BigInt(Date.now()) * 1_000_000n - template.encodedAtNs;
  for (const offset of template.timeOffsets) target.writeBigUInt64LE(template.bytes.readBigUInt64LE(offset) + shiftNs, offset);
  for (const offset of template.traceIdOffsets) target.writeBigUInt64BE(sequence, offset + 4);
  const text = (sequence & 0xffff_ffff_ffffn).toString(16).padStart(12, '0');
  for (const offset of template.textOffsets) target.write(text, offset, 'latin1');
  return target.subarray(0, template.bytes.length);
}
