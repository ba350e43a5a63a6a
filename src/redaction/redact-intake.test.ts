import { describe, expect, it } from 'vitest';
import { decodeIntakeRequest, type IntakeRequest } from '../otlp/intake-request.js';
import { encodeExportRequest } from '../../test/support/otlp-request.js';
import { redactionConfigSchema } from './config.js';
import { redactIntakeRequest, redactRows } from './redact-intake.js';
import { toIntakeRows, type IntakeRows } from '../store/intake-rows.js';
import { createRedactor } from './redactor.js';

const redactor = createRedactor(redactionConfigSchema.parse({}), Buffer.alloc(32, 3));
const TOKEN = 'glpat-Zx8kQ2mN4pR6tV8wY0aC';

describe('redactIntakeRequest', () => {
  it('returns the very same request when nothing is secret', () => {
    const request = decodeIntakeRequest(
      encodeExportRequest([{ spans: [{ name: 'deploy', attributes: { 'nhi.workflow.run.id': 'run-1' } }] }]),
    );
    const result = redactIntakeRequest(request, redactor);
    expect(result.request).toBe(request);
    expect(result.counts.size).toBe(0);
  });

  it('redacts resource bodies and every decoded attribute, and gives each span its resource manifest', () => {
    const request = decodeIntakeRequest(
      encodeExportRequest([
        {
          attributes: { 'service.name': 'deployer', 'deploy.gitlab': TOKEN },
          spans: [
            { name: 'clean', attributes: { 'nhi.workflow.run.id': 'run-1' } },
            { name: 'dirty', attributes: { 'nhi.workflow.run.id': 'run-1', password: 'hunter2' } },
          ],
        },
      ]),
    );
    const result = redactIntakeRequest(request, redactor);
    const resource = result.request.resources[0]!;
    const [clean, dirty] = resource.scopes[0]!.spans;

    expect(Buffer.from(resource.body).indexOf(TOKEN)).toBe(-1);
    expect(resource.attributes['deploy.gitlab']).toBe(redactor.hash(TOKEN));
    expect(clean!.redactions).toEqual([{ target: 'resource', key: 'attributes.deploy.gitlab', reason: 'gitlab_token' }]);
    expect(dirty!.attributes.password).toBe(redactor.hash('hunter2'));
    expect(dirty!.attributes['nhi.workflow.run.id']).toBe('run-1');
    // Span bodies are the intake writer's (redactRows): untouched here, and their erasures not counted yet.
    expect(dirty!.body).toBe(request.resources[0]!.scopes[0]!.spans[1]!.body);
    expect([...result.counts]).toEqual([['resource\u0000gitlab_token', 1]]);
    // The decoded request itself is treated as immutable.
    expect(request.resources[0]!.attributes['deploy.gitlab']).toBe(TOKEN);
  });
});

describe('redactRows', () => {
  it('returns the very same rows when no span body holds a secret', () => {
    const rows = rowsOf(decodeIntakeRequest(encodeExportRequest([{ spans: [{ name: 'deploy', attributes: { k: 'v' } }] }])));
    const result = redactRows(rows, redactor);
    expect(result.rows).toBe(rows);
    expect(result.counts.size).toBe(0);
  });

  it('erases secrets from span bodies and adds them to the manifest after those of the resource', () => {
    const request = decodeIntakeRequest(
      encodeExportRequest([
        {
          attributes: { 'deploy.gitlab': TOKEN },
          spans: [
            { name: 'clean', attributes: { 'nhi.workflow.run.id': 'run-1' } },
            { name: 'dirty', attributes: { password: 'hunter2', 'db.token': 'hunter3' } },
          ],
        },
      ]),
    );
    const { rows, counts } = redactRows(rowsOf(redactIntakeRequest(request, redactor).request), redactor);

    const bodies = Buffer.from(rows.bodies);
    expect(bodies.indexOf('hunter2')).toBe(-1);
    expect(bodies.indexOf('hunter3')).toBe(-1);
    expect(bodies.indexOf(redactor.hash('hunter2'))).toBeGreaterThan(0);
    // The clean span's bytes come first and are unchanged.
    expect(bodies.subarray(0, rows.bodyEnds[0])).toEqual(Buffer.from(request.resources[0]!.scopes[0]!.spans[0]!.body));
    expect(JSON.parse(rows.redactions[0]!)).toEqual([{ target: 'resource', key: 'attributes.deploy.gitlab', reason: 'gitlab_token' }]);
    expect(JSON.parse(rows.redactions[1]!)).toEqual([
      { target: 'resource', key: 'attributes.deploy.gitlab', reason: 'gitlab_token' },
      { target: 'span', key: 'attributes.password', reason: 'key_name' },
      { target: 'span', key: 'attributes.db.token', reason: 'key_name' },
    ]);
    expect([...counts]).toEqual([['span\u0000key_name', 2]]);
  });

  it('erases a token from the span name, the status message and event names, in the body and the name column', () => {
    const request = decodeIntakeRequest(
      encodeExportRequest([
        {
          spans: [
            {
              name: `clone https://oauth2:${TOKEN}@gitlab.example.com/x.git`,
              attributes: { 'nhi.workflow.run.id': 'run-1' },
              status: { code: 2, message: `fatal: could not read from https://oauth2:${TOKEN}@gitlab.example.com` },
              events: [{ name: `retry with ${TOKEN}` }],
            },
          ],
        },
      ]),
    );
    const { rows } = redactRows(rowsOf(request), redactor);

    expect(Buffer.from(rows.bodies).indexOf(TOKEN)).toBe(-1);
    expect(rows.names[0]).toBe(redactor.hash(`clone https://oauth2:${TOKEN}@gitlab.example.com/x.git`));
    expect((JSON.parse(rows.redactions[0]!) as Array<{ key: string }>).map((r) => r.key)).toEqual([
      'name',
      'status.message',
      'events[0].name',
    ]);
  });

  it('throws on a span body it cannot decode, so the request is refused rather than stored unexamined', () => {
    const rows = rowsOf(decodeIntakeRequest(encodeExportRequest([{ spans: [{ name: 'x', attributes: { password: 'p' } }] }])));
    // Truncate the body inside its attributes: the scan finds it irregular and the decode fails.
    const broken = { ...rows, bodies: rows.bodies.subarray(0, rows.bodyEnds[0]! - 3), bodyEnds: Uint32Array.of(rows.bodyEnds[0]! - 3) };
    expect(() => redactRows(broken, redactor)).toThrow();
  });
});

/** The spans of a decoded request as the receiver hands them to intake. */
function rowsOf(request: IntakeRequest): IntakeRows {
  const spans = request.resources.flatMap((resource) =>
    resource.scopes.flatMap((scope) => scope.spans.map((span) => ({ span, resource, scope, runKey: 'run-1', identity: false }))),
  );
  return toIntakeRows({ spans, receivedNs: 1n, claims: [] });
}
