import type { Command } from 'commander';
import { ValidationError } from '../lib/errors.ts';
import { describeTopology, toMermaid, validateTopology } from '../topology/describe.ts';
import { topology } from '../topology/index.ts';
import type { Topology } from '../topology/types.ts';

/** Prints each problem and throws when the topology has any; commands that act on it call this first. */
export function assertValidTopology(t: Topology = topology): void {
  const problems = validateTopology(t);
  if (problems.length === 0) return;
  for (const p of problems) console.error(`  ${p}`);
  throw new ValidationError('topology', `${problems.length} problem(s), listed above`);
}

export function registerTopology(program: Command): void {
  program
    .command('topology')
    .description('describe the topics and processors (group ids, flows, retry and dead-letter topics)')
    .option('--mermaid', 'print a Mermaid flowchart instead')
    .action((options: { mermaid?: boolean }) => {
      assertValidTopology();
      process.stdout.write(options.mermaid ? toMermaid(topology) : `${describeTopology(topology)}\n`);
    });
}
