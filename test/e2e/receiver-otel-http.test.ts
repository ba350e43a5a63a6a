import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { context, trace, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spanBytesById } from '../support/otlp-request.js';
import { createOtelSender, createOtlpExporter, type OtlpProtocol } from '../support/otel-sender.js';
import { startRunledger, type RunledgerProcess } from '../support/runledger-process.js';
import { spansNamedLike, spansOfTrace } from '../support/stored-spans.js';

const run = promisify(execFile);

/** Ended spans of one workflow run (root, a policy check, a change with a link and an event), made by a real SDK. */
function workflowSpans(prefix: string): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'rotation-controller', 'deployment.replica': 3 }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('runledger-e2e-http', '1.2.3');
  const root = tracer.startSpan(`${prefix}-rotate`, {
    attributes: { 'nhi.workflow.run.id': `${prefix}-run`, 'nhi.workflow.kind': 'secret_rotation', attempt: 2, ratio: 0.5, dry_run: false, targets: ['a', 'b'] },
  });
  const inRoot = trace.setSpan(context.active(), root);
  const check = tracer.startSpan(`${prefix}-policy`, { attributes: { 'nhi.policy.id': 'rotation-window', 'nhi.policy.decision': 'allow' } }, inRoot);
  check.end();
  const change = tracer.startSpan(
    `${prefix}-revoke`,
    { attributes: { 'nhi.change.operation': 'revoke' }, links: [{ context: check.spanContext(), attributes: { reason: 'gated by' } }] },
    inRoot,
  );
  change.addEvent('connector retry', { attempt: 1 });
  change.setStatus({ code: SpanStatusCode.ERROR, message: 'connector timeout' });
  change.end();
  root.end();
  return memory.getFinishedSpans();
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) =>
    exporter.export(spans, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error(`export failed: ${result.code}`)))),
  );
}

/** A plain HTTP server that keeps what the official protobuf exporter posts: the reference encoding. */
function startCapture(): Promise<{ server: Server; url: string; bodies: Buffer[] }> {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${address.port}/v1/traces`, bodies });
    }),
  );
}

// The official OTel JS OTLP/HTTP exporters (protobuf and JSON) and curl, against a real process.
describe('OTLP/HTTP receiver with the OpenTelemetry exporters and curl', () => {
  let runledger: RunledgerProcess;
  let capture: Awaited<ReturnType<typeof startCapture>>;

  beforeAll(async () => {
    [runledger, capture] = await Promise.all([startRunledger({ config: { runs: { settle_ms: 50 } } }), startCapture()]);
  });

  afterAll(async () => {
    capture?.server.close();
    await runledger?.stop();
    if (runledger) rmSync(runledger.dir, { recursive: true, force: true });
  });

  it.each([
    ['http/protobuf', 'none'],
    ['http/protobuf', 'gzip'],
    ['http/json', 'none'],
    ['http/json', 'gzip'],
  ] as Array<[OtlpProtocol, 'none' | 'gzip']>)(
    'stores what the %s exporter sends (compression %s) as the exact bytes the protobuf exporter encodes',
    async (protocol, compression) => {
      const prefix = `${protocol.replace('/', '-')}-${compression}`;
      const spans = workflowSpans(prefix);
      const reference = createOtlpExporter('http/protobuf', capture.url);
      await exportWith(reference, spans);
      await reference.shutdown();
      const expected = spanBytesById(capture.bodies.at(-1)!);
      expect(expected.size).toBe(3);

      const exporter = createOtlpExporter(protocol, runledger.otlpHttpUrl, { compression });
      await exportWith(exporter, spans);
      await exporter.shutdown();

      const stored = spansNamedLike(runledger.dbPath, `${prefix}-%`);
      expect(stored.map((s) => s.name)).toEqual([`${prefix}-policy`, `${prefix}-revoke`, `${prefix}-rotate`]);
      expect(new Set(stored.map((s) => s.run_key))).toEqual(new Set([`${prefix}-run`]));
      for (const s of stored) expect(Buffer.from(s.body).equals(expected.get(s.span_id)!), `body of ${s.name}`).toBe(true);
    },
  );

  it('takes spans from an SDK pipeline exporting over OTLP/HTTP JSON, as an application configures it', async () => {
    const sender = createOtelSender(runledger.otlpHttpUrl, { 'service.name': 'jit-broker' }, { protocol: 'http/json' });
    try {
      const root = sender.tracer.startSpan('jit-access', { attributes: { 'nhi.workflow.run.id': 'run-http-sdk-0001' } });
      sender.tracer.startSpan('grant-role', {}, trace.setSpan(context.active(), root)).end();
      root.end();
      await sender.flush();
      const stored = spansOfTrace(runledger.dbPath, root.spanContext().traceId);
      expect(stored.map((s) => [s.name, s.run_key])).toEqual([
        ['grant-role', 'run-http-sdk-0001'],
        ['jit-access', 'run-http-sdk-0001'],
      ]);
    } finally {
      await sender.shutdown();
    }
  });

  it('takes a JSON body posted with curl, as the README shows', async () => {
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'curl' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  name: 'curl-rotate',
                  kind: 1,
                  startTimeUnixNano: '1764000000000000000',
                  endTimeUnixNano: '1764000001000000000',
                  attributes: [{ key: 'nhi.workflow.run.id', value: { stringValue: 'run-curl-0001' } }],
                },
              ],
            },
          ],
        },
      ],
    });
    const { stdout } = await run('curl', [
      '-sS', '-X', 'POST', '-H', 'Content-Type: application/json', '--data', body, '-w', '\n%{http_code}', runledger.otlpHttpUrl,
    ]);
    const [answer, status] = stdout.split('\n');
    expect(status).toBe('200');
    expect(JSON.parse(answer!)).toEqual({});
    expect(spansNamedLike(runledger.dbPath, 'curl-rotate').map((s) => [s.trace_id, s.span_id, s.run_key])).toEqual([
      ['5b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', 'run-curl-0001'],
    ]);
  });
});
