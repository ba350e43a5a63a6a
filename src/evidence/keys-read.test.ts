import { describe, expect, it } from 'vitest';
import { celKeysRead } from './cel.js';
import { resolveFieldKeys, runIdentityKeys } from './fields.js';
import { attributeKeysRead, TOOL_NAME_KEY } from './keys-read.js';
import { resolveProfiles, type ProfilesConfig } from './profiles.js';
import { parseConfig } from '../config/load.js';
import { RunIdentity } from '../runs/run-identity.js';
import { BUILT_IN_RECOGNISERS, Recognisers } from './recognisers.js';

const keys = resolveFieldKeys({});
const identity = new RunIdentity(keys['run.id'], runIdentityKeys(keys), [{ attribute: 'ci.job.marker' }]);
const recognisers = new Recognisers();
/** Profiles as the config loader hands them over (parsed, with their defaults). */
const configured = (profiles: unknown) => resolveProfiles(parseConfig({ evidence: { profiles } }).evidence.profiles as ProfilesConfig);

describe('celKeysRead', () => {
  it('lists the keys an expression names literally', () => {
    expect(celKeysRead('"a.b" in attributes && int(attributes["c.d"]) == 0 && attributes.e == "x" && has(attributes.f)', 'attributes')).toEqual([
      'a.b',
      'c.d',
      'e',
      'f',
    ]);
    expect(celKeysRead('run["decision.result"] == "allow" && steps.all(s, s.succeeded)', 'attributes')).toEqual([]);
  });

  it('gives up when an expression may read any key', () => {
    for (const source of ['size(attributes) > 0', 'attributes.exists(k, k.startsWith("x"))', 'attributes[run["run.kind"]] == "y"', 'attributes == {}']) {
      expect(celKeysRead(source, 'attributes'), source).toBeUndefined();
    }
  });
});

describe('attributeKeysRead', () => {
  it('covers the evidence fields, the run identity, tool calls and what the built-in profiles read', () => {
    const read = attributeKeysRead(keys, identity, resolveProfiles({}), recognisers)!;
    for (const key of [...Object.values(keys).flat(), 'ci.job.marker', TOOL_NAME_KEY, 'nhi.credentials.active']) expect(read.has(key), key).toBe(true);
    expect(read.has('http.request.method')).toBe(false);
  });

  it('covers what recognisers read, but never tool arguments and results (no verdict needs them)', () => {
    const read = attributeKeysRead(keys, identity, resolveProfiles({}), recognisers)!;
    for (const key of ['ai.operationId', 'ai.toolCall.name', 'openinference.span.kind', 'tool.name', 'traceloop.entity.name', 'cicd.pipeline.task.run.result']) {
      expect(read.has(key), key).toBe(true);
    }
    const contentKeys = BUILT_IN_RECOGNISERS.flatMap((r) => r.content_keys ?? []);
    expect(contentKeys).toEqual(expect.arrayContaining(['ai.toolCall.args', 'ai.toolCall.result', 'gen_ai.tool.call.arguments', 'input.value', 'traceloop.entity.input']));
    for (const key of contentKeys) expect(read.has(key), key).toBe(false);
  });

  it('adds the keys of configured constraints and expectations', () => {
    const profiles = configured({
      release: {
        constraints: [{ expression: 'attributes["deploy.window"] == "open"', message: 'outside the window' }],
        required_changes: [{ operation: 'deploy', expect: 'attributes.replicas_ready == attributes.replicas' }],
      },
    });
    const read = attributeKeysRead(keys, identity, profiles, recognisers)!;
    for (const key of ['deploy.window', 'replicas_ready', 'replicas']) expect(read.has(key), key).toBe(true);
  });

  it('decodes every attribute when a constraint may read any key', () => {
    const profiles = configured({ release: { constraints: [{ expression: 'size(attributes) < 64', message: 'too many attributes' }] } });
    expect(attributeKeysRead(keys, identity, profiles, recognisers)).toBeUndefined();
  });
});
