import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../config/index.ts';
import { formatDuration, internalTopicsOf, toMermaid } from './describe.ts';
import { topology } from './index.ts';
import type { Topology } from './types.ts';

// The README's topology diagram and processor table are generated from the topology, never
// written by hand: `npm run readme:topology` rewrites them, and a test fails when they are stale.

export const README = join(REPO_ROOT, 'README.md');

/** Replaces what sits between `<!-- name:start -->` and `<!-- name:end -->` with `body`. */
function replaceBlock(readme: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md has no ${start} … ${end} block`);
  return `${readme.slice(0, from + start.length)}\n${body}${readme.slice(to)}`;
}

export function withDiagram(readme: string, t: Topology = topology): string {
  return replaceBlock(readme, 'topology', `\`\`\`mermaid\n${toMermaid(t).trimEnd()}\n\`\`\`\n`);
}

const code = (name: string) => `\`${name}\``;

/** A Markdown table padded the way the formatter (Biome) pads one, so formatting leaves it as it is. */
function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join(' | ')} |`;
  return `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`;
}
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** One row per processor (then per connector): what it consumes, produces, changes, and how it retries. */
export function processorTable(t: Topology = topology): string {
  const rows = t.processors.map((p) => {
    const { retry, deadLetter } = internalTopicsOf(t, p);
    const policy = [
      `${p.retry.attempts} attempts in place (backoff ${formatDuration(p.retry.initialDelayMs)} → ${formatDuration(p.retry.maxDelayMs)})`,
      ...retry.map((tier, i) => `${code(tier.name)} after ${formatDuration(p.retry.tierDelaysMs[i] ?? 0)}`),
      code(deadLetter.name),
    ].join(', then ');
    const effects =
      p.effects === undefined
        ? 'not documented yet'
        : p.effects.length === 0
          ? 'none (Kafka only)'
          : p.effects.join('; ');
    return [
      `**${p.name}**`,
      p.inputs.map(code).join(', '),
      p.outputs.map(code).join(', ') || '—',
      effects,
      policy,
    ];
  });
  const connectors = (t.connectors ?? []).map((c) => [
    `**${c.name}** (connector)`,
    c.source,
    c.outputs.map(code).join(', '),
    'none (reads only)',
    'no retry topics: a failed round aborts its transaction and is read again from the checkpoint',
  ]);
  return markdownTable(
    ['processor', 'consumes', 'produces', 'side effects', 'retry policy'],
    [...rows, ...connectors].map((r) => r.map(cell)),
  );
}

export function withProcessorTable(readme: string, t: Topology = topology): string {
  return replaceBlock(readme, 'processors', processorTable(t));
}

/** The README with every generated block brought up to date. */
export function withGenerated(readme: string, t: Topology = topology): string {
  return withProcessorTable(withDiagram(readme, t), t);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  writeFileSync(README, withGenerated(readFileSync(README, 'utf8')));
  console.log('README.md: topology diagram and processor table regenerated');
}
