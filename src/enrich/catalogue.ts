import { z } from 'zod';
import { formatIssues } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { isRecord, readDataFile } from './data-file.js';

export interface PolicyEntry {
  readonly id: string;
  /** The revision the catalogue says is current, compared with a decision's nhi.policy.revision. */
  readonly revision: string;
  readonly owner: string;
  /** Framework references (e.g. "NIST PR.AA-01", "OWASP NHI7"). */
  readonly controls: readonly string[];
}

const text = z.string().trim().min(1, 'must not be empty');

/** YAML reads `revision: 7` as a number and `1.10` as 1.1: ask for quotes rather than guess. */
const revisionSchema = z.string({
  error: (issue) => (issue.input === undefined ? 'required' : 'must be a string; quote numbers in YAML, e.g. "7"'),
}).trim().min(1, 'must not be empty');

const policySchema = z.strictObject({
  id: text.describe('policy id, as decisions carry it in nhi.policy.id or security_rule.name'),
  revision: revisionSchema.describe('current revision of the policy'),
  owner: text.describe('accountable person or group'),
  controls: z.array(text).default([]).describe('control references (e.g. NIST PR.AA-01, OWASP NHI7)'),
});

const agentSchema = z.strictObject({
  agent_id: text.describe("matched against the run's actor id after inventory canonicalisation, or gen_ai.agent.id"),
  approved_tools: z.array(text).describe('gen_ai.tool.name values the agent may call; [] approves none'),
});

const workflowSchema = z.strictObject({
  name: text.describe('workflow name (run.workflow)'),
  pinned_definition: text.optional().describe('definition hash runs of this workflow must carry (run.definition)'),
});

/** The policy catalogue file (YAML or JSON). */
export const catalogueFileSchema = z.strictObject({
  policies: z.array(policySchema).default([]).describe('policies decisions refer to'),
  agents: z.array(agentSchema).default([]).describe('AI agents and the tools each may call'),
  workflows: z.array(workflowSchema).default([]).describe('workflows with a pinned definition'),
});

export type CatalogueFile = z.output<typeof catalogueFileSchema>;

/** A loaded catalogue: immutable; a reload builds a new one. */
export class Catalogue {
  readonly source: string;
  /** First 16 hex digits of the SHA-256 of the file bytes. */
  readonly revision: string;
  readonly counts: { readonly policies: number; readonly agents: number; readonly workflows: number };
  private readonly policies = new Map<string, PolicyEntry>();
  private readonly tools = new Map<string, ReadonlySet<string>>();
  private readonly pins = new Map<string, string>();

  /** Expects a document already checked by `catalogueFileSchema` and for duplicates; use loadCatalogue. */
  constructor(file: CatalogueFile, meta: { readonly source: string; readonly revision: string }) {
    this.source = meta.source;
    this.revision = meta.revision;
    for (const p of file.policies) {
      this.policies.set(p.id, Object.freeze({ id: p.id, revision: p.revision, owner: p.owner, controls: Object.freeze([...p.controls]) }));
    }
    for (const a of file.agents) this.tools.set(a.agent_id, new Set(a.approved_tools));
    for (const w of file.workflows) if (w.pinned_definition !== undefined) this.pins.set(w.name, w.pinned_definition);
    this.counts = Object.freeze({ policies: file.policies.length, agents: file.agents.length, workflows: file.workflows.length });
  }

  policy(id: string): PolicyEntry | undefined {
    return this.policies.get(id.trim());
  }

  /** The agent's approved tool names; undefined when the catalogue does not list the agent (not "none approved"). */
  approvedTools(agentId: string): ReadonlySet<string> | undefined {
    return this.tools.get(agentId.trim());
  }

  /** The definition hash runs of `workflow` must carry; undefined when it is not pinned. Compare exactly. */
  pinnedDefinition(workflow: string): string | undefined {
    return this.pins.get(workflow.trim());
  }
}

/**
 * Reads and validates a policy catalogue. Throws a ConfigError naming the file and listing every problem
 * as "yaml.path: message", duplicate policy ids, agent ids and workflow names included.
 */
export function loadCatalogue(path: string): Catalogue {
  const file = readDataFile(path);
  return parseCatalogue(file.raw, { source: file.source, revision: file.revision });
}

/** Validates an already parsed catalogue document; `source` names it in errors. */
export function parseCatalogue(raw: unknown, meta: { readonly source: string; readonly revision: string }): Catalogue {
  const result = catalogueFileSchema.safeParse(raw);
  const problems = [
    ...(result.success ? [] : formatIssues(result.error)),
    ...duplicates(raw, 'policies', 'id'),
    ...duplicates(raw, 'agents', 'agent_id'),
    ...duplicates(raw, 'workflows', 'name'),
  ];
  if (!result.success || problems.length > 0) throw new ConfigError(meta.source, problems);
  return new Catalogue(result.data, meta);
}

/** Read leniently from the raw document so duplicates are reported together with schema problems. */
function duplicates(raw: unknown, section: string, key: string): string[] {
  const list = isRecord(raw) ? raw[section] : undefined;
  if (!Array.isArray(list)) return [];
  const first = new Map<string, number>();
  const problems: string[] = [];
  list.forEach((entry: unknown, index) => {
    const value = isRecord(entry) ? entry[key] : undefined;
    if (typeof value !== 'string' || value.trim() === '') return;
    const name = value.trim();
    const at = first.get(name);
    if (at === undefined) first.set(name, index);
    else problems.push(`${section}.${index}.${key}: duplicate ${key} "${name}" (first at ${section}.${at})`);
  });
  return problems;
}
