import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadCatalogue } from './catalogue.js';
import { contentRevision } from './data-file.js';
import { loadInventory } from './inventory.js';

const EXAMPLE = fileURLToPath(new URL('../../config/policies.example.yaml', import.meta.url));
const INVENTORY_EXAMPLE = fileURLToPath(new URL('../../config/identities.example.yaml', import.meta.url));

function write(text: string, name = 'policies.yaml'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'runledger-catalogue-')), name);
  writeFileSync(path, text);
  return path;
}

function problemsOf(path: string): readonly string[] {
  try {
    loadCatalogue(path);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(path);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError, but the catalogue loaded');
}

const CATALOGUE = `
policies:
  - id: rotation-policy
    revision: "7"
    owner: security@example.org
    controls: [NHI7, PR.AA-01]
agents:
  - agent_id: agent:support-triage
    approved_tools: [search_tickets, summarize, create_comment]
  - agent_id: agent:read-only
    approved_tools: []
workflows:
  - name: rotate-db-password
    pinned_definition: sha256:4f2a
  - name: unpinned
`;

describe('loadCatalogue', () => {
  it('loads the example catalogue', () => {
    const catalogue = loadCatalogue(EXAMPLE);
    expect(catalogue.counts).toEqual({ policies: 4, agents: 2, workflows: 1 });
    expect(catalogue.policy('secret-rotation')?.controls).toContain('NHI7');
    expect(catalogue.pinnedDefinition('rotate-db-password')).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('names, in the example catalogue, agents the example inventory knows by their canonical ids', () => {
    const inventory = loadInventory(INVENTORY_EXAMPLE);
    const catalogue = loadCatalogue(EXAMPLE);
    const canonical = inventory.resolve('arn:aws:sts::123456789012:assumed-role/infra-copilot/s-1')!.id;
    expect(catalogue.approvedTools(canonical)?.has('get_metrics')).toBe(true);
    for (const agent of inventory.identities().filter((i) => i.type === 'ai_agent')) {
      expect(catalogue.approvedTools(agent.id), agent.id).toBeDefined();
    }
  });

  it('looks up policies, approved tools and pinned definitions', () => {
    const catalogue = loadCatalogue(write(CATALOGUE));
    expect(catalogue.policy('rotation-policy')).toEqual({
      id: 'rotation-policy',
      revision: '7',
      owner: 'security@example.org',
      controls: ['NHI7', 'PR.AA-01'],
    });
    expect([...catalogue.approvedTools('agent:support-triage')!]).toEqual(['search_tickets', 'summarize', 'create_comment']);
    expect(catalogue.pinnedDefinition('rotate-db-password')).toBe('sha256:4f2a');
    expect(catalogue.revision).toBe(contentRevision(CATALOGUE));
  });

  it('tells an agent approved for no tools from an agent it does not list', () => {
    const catalogue = loadCatalogue(write(CATALOGUE));
    expect(catalogue.approvedTools('agent:read-only')?.size).toBe(0);
    expect(catalogue.approvedTools('agent:unknown')).toBeUndefined();
  });

  it('answers undefined for unknown policies and unpinned workflows', () => {
    const catalogue = loadCatalogue(write(CATALOGUE));
    expect(catalogue.policy('nope')).toBeUndefined();
    expect(catalogue.pinnedDefinition('unpinned')).toBeUndefined();
    expect(catalogue.pinnedDefinition('never-heard-of')).toBeUndefined();
  });

  it('accepts an empty mapping and reads JSON', () => {
    expect(loadCatalogue(write('{}\n')).counts).toEqual({ policies: 0, agents: 0, workflows: 0 });
    const json = JSON.stringify({ policies: [{ id: 'p', revision: '1', owner: 'o' }] });
    expect(loadCatalogue(write(json, 'policies.json')).policy('p')?.controls).toEqual([]);
  });

  it('asks for quotes around a numeric revision rather than guessing its text', () => {
    expect(problemsOf(write('policies:\n  - { id: p, revision: 1.10, owner: o }\n'))).toEqual([
      'policies.0.revision: must be a string; quote numbers in YAML, e.g. "7"',
    ]);
    expect(problemsOf(write('policies:\n  - { id: p, owner: o }\n'))).toEqual(['policies.0.revision: required']);
  });

  it('lists every problem with its path at once, duplicates included', () => {
    const problems = problemsOf(
      write(`
policies:
  - { id: p, revision: "1", owner: o }
  - { id: p, revision: "2", owner: "" }
agents:
  - { agent_id: a, approved_tools: [x] }
  - { agent_id: a, approved_tools: [y], tools: [] }
workflows:
  - { name: w, pinned_definition: "" }
  - { name: w }
extra: true
`),
    );
    expect(problems).toEqual([
      'policies.1.owner: must not be empty',
      'agents.1.tools: unknown key',
      'workflows.0.pinned_definition: must not be empty',
      'extra: unknown key',
      'policies.1.id: duplicate id "p" (first at policies.0)',
      'agents.1.agent_id: duplicate agent_id "a" (first at agents.0)',
      'workflows.1.name: duplicate name "w" (first at workflows.0)',
    ]);
  });

  it('rejects a document that is not a mapping', () => {
    expect(problemsOf(write(''))).toEqual([expect.stringMatching(/^\(root\): /)]);
    expect(problemsOf(write('- a\n'))).toEqual([expect.stringMatching(/^\(root\): /)]);
  });
});
