import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, parseConfig } from './load.js';
import { renderConfigReferenceMarkdown, renderDefaultConfigYaml } from './reference.js';

const COMMITTED_YAML = fileURLToPath(new URL('../../config/runledger.yaml', import.meta.url));

describe('config reference', () => {
  it('keeps the committed config/runledger.yaml identical to the one generated from the schema', () => {
    const committed = readFileSync(COMMITTED_YAML, 'utf8');

    expect(committed, 'config/runledger.yaml drifted from the schema: run `npm run docs:config`').toBe(
      renderDefaultConfigYaml(),
    );
  });

  it('documents a file that loads to exactly the default config', () => {
    expect(loadConfig(COMMITTED_YAML, {})).toEqual(parseConfig({}));
  });

  it('generates YAML that parses to the same config as an empty document', () => {
    expect(parseConfig(parse(renderDefaultConfigYaml()))).toEqual(parseConfig({}));
  });

  it('lists every leaf key with its default in the markdown reference', () => {
    const markdown = renderConfigReferenceMarkdown();

    expect(markdown).toContain('| `receiver.otlp_grpc.endpoint` | `"localhost:4317"` |');
    expect(markdown).toContain('| `storage.sqlite.busy_timeout_ms` | `5000` |');
    expect(markdown).toContain('| `filter.include` | `[]` |');
  });
});
