import { describe, expect, it } from 'vitest';
import { decodeIntakeRequest } from '../otlp/intake-request.js';
import { encodeExportRequest } from '../../test/support/otlp-request.js';
import { redactionConfigSchema } from './config.js';
import { redactIntakeRequest } from './redact-intake.js';
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

  it('redacts span and resource bodies and their decoded attributes alike, and lists what each span lost', () => {
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
    // The clean span's bytes are untouched; it still carries its resource's manifest.
    expect(clean!.body).toBe(request.resources[0]!.scopes[0]!.spans[0]!.body);
    expect(clean!.redactions).toEqual([{ target: 'resource', key: 'attributes.deploy.gitlab', reason: 'gitlab_token' }]);
    expect(Buffer.from(dirty!.body).indexOf('hunter2')).toBe(-1);
    expect(dirty!.attributes.password).toBe(redactor.hash('hunter2'));
    expect(dirty!.attributes['nhi.workflow.run.id']).toBe('run-1');
    expect(dirty!.redactions).toEqual([
      { target: 'resource', key: 'attributes.deploy.gitlab', reason: 'gitlab_token' },
      { target: 'span', key: 'attributes.password', reason: 'key_name' },
    ]);
    expect([...result.counts]).toEqual([
      ['resource\u0000gitlab_token', 1],
      ['span\u0000key_name', 1],
    ]);
    // The decoded request itself is treated as immutable.
    expect(request.resources[0]!.attributes['deploy.gitlab']).toBe(TOKEN);
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
    const span = redactIntakeRequest(request, redactor).request.resources[0]!.scopes[0]!.spans[0]!;

    expect(Buffer.from(span.body).indexOf(TOKEN)).toBe(-1);
    expect(span.name).not.toContain(TOKEN);
    expect(span.redactions?.map((r) => r.key)).toEqual(['name', 'status.message', 'events[0].name']);
  });
});
