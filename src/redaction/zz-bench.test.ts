import { it } from 'vitest';
import { Span, SpanHeader } from '../otlp/proto.js';
import { redactEncodedSpan } from '../otlp/redact-encoded.js';
import { redactionConfigSchema } from './config.js';
import { createRedactor } from './redactor.js';

const s = (stringValue: string) => ({ stringValue });
const span = Span.encode(Span.fromObject({
  traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2), parentSpanId: Buffer.alloc(8, 3),
  name: 'rotate db credential', kind: 1, startTimeUnixNano: '1764000000123456789', endTimeUnixNano: '1764000000987654321',
  attributes: [
    { key: 'nhi.workflow.run.id', value: s('3f2c8a9e-5b7d-4e1f-9a6c-2d8b7e4f1a3c') },
    { key: 'nhi.workflow.name', value: s('rotate-db-credentials') },
    { key: 'nhi.workflow.kind', value: s('credential_rotation') },
    { key: 'nhi.actor.id', value: s('spiffe://prod.acme.org/ns/payments/sa/rotator') },
    { key: 'nhi.change.target', value: s('vault:db/password#v7') },
    { key: 'nhi.policy.decision_id', value: s('9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d') },
    { key: 'nhi.workflow.definition.hash', value: s('sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03') },
    { key: 'vcs.ref.head.revision', value: s('e83c5163316f89bfbde7d9ab23ca2e25604af290') },
    { key: 'http.request.method', value: s('POST') },
    { key: 'url.full', value: s('https://vault.internal:8200/v1/database/rotate-role/app_rw') },
    { key: 'http.response.status_code', value: { intValue: 204 } },
    { key: 'k8s.pod.name', value: s('rotator-7f9c8d6b5-x2x9k') },
  ],
  status: { code: 1 },
})).finish();
const cfg = (raw: unknown) => redactionConfigSchema.parse(raw);

function measure(label: string, fn: () => void, n = 300_000) {
  for (let i = 0; i < 20_000; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0);
  console.info(`${label}: ${Math.round(n / (ns / 1e9)).toLocaleString('en')} spans/s (${(ns / n / 1000).toFixed(2)} µs/span)`);
}

it('bench', () => {
  console.info(`span bytes: ${span.length}`);
  const r = createRedactor(cfg({}), Buffer.alloc(32, 1));
  const rp = createRedactor(cfg({ keys: ['acme.*'], allow_keys: ['nhi.change.*'], patterns: ['CORP-\\d{6}'] }), Buffer.alloc(32, 1));
  if (redactEncodedSpan(span, r).bytes !== span) throw new Error('not clean');
  for (let round = 0; round < 2; round++) {
    measure('redactEncodedSpan (default config)', () => redactEncodedSpan(span, r));
    measure('redactEncodedSpan (keys+allow+1 pattern)', () => redactEncodedSpan(span, rp));
    measure('SpanHeader.decode (intake today, reference)', () => SpanHeader.decode(span));
    measure('Span.decode+encode (naive, reference)', () => Span.encode(Span.decode(span)).finish(), 100_000);
  }
});
