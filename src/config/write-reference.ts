/** `npm run docs:config`: regenerates config/runledger.yaml and the README's config reference. */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReferenceMarkdown, renderDefaultConfigYaml } from './reference.js';

const BEGIN = '<!-- config-reference:begin -->';
const END = '<!-- config-reference:end -->';

writeFileSync('config/runledger.yaml', renderDefaultConfigYaml());
const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf(BEGIN);
const end = readme.indexOf(END);
if (start >= 0 && end > start) {
  writeFileSync('README.md', `${readme.slice(0, start + BEGIN.length)}\n${renderConfigReferenceMarkdown()}${readme.slice(end)}`);
}
