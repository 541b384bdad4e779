import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../config/index.ts';
import { toMermaid } from './describe.ts';
import { topology } from './index.ts';
import type { Topology } from './types.ts';

// The README's topology diagram is generated from the topology, never drawn by hand:
// `npm run readme:topology` rewrites it, and a test fails when it is stale.

const START = '<!-- topology:start -->';
const END = '<!-- topology:end -->';
export const README = join(REPO_ROOT, 'README.md');

export function withDiagram(readme: string, t: Topology = topology): string {
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) throw new Error(`README.md has no ${START} … ${END} block`);
  return `${readme.slice(0, from + START.length)}\n\`\`\`mermaid\n${toMermaid(t).trimEnd()}\n\`\`\`\n${readme.slice(to)}`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  writeFileSync(README, withDiagram(readFileSync(README, 'utf8')));
  console.log('README.md: topology diagram regenerated');
}
