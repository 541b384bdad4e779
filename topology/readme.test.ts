import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { topology } from './index.ts';
import { processorTable, README, withDiagram, withGenerated } from './readme.ts';

describe('README generated blocks', () => {
  it('are the ones generated from the topology (run `npm run readme:topology` after changing it)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(withDiagram(readme)).toBe(readme);
    expect(withGenerated(readme)).toBe(readme);
  });

  it('give every processor a row: consumes, produces, side effects, retry tiers and DLT', () => {
    const table = processorTable();
    const rows = table.trimEnd().split('\n').slice(2);
    expect(rows).toHaveLength(topology.processors.length + (topology.connectors?.length ?? 0));
    for (const p of topology.processors) {
      const row = rows.find((r) => r.startsWith(`| **${p.name}** `));
      expect(row, p.name).toBeDefined();
      const cells = row!.split(' | ');
      for (const input of p.inputs) expect(cells[1]).toContain(`\`${input}\``);
      for (const output of p.outputs) expect(cells[2]).toContain(`\`${output}\``);
      expect(cells[4]).toContain(`${p.retry.attempts} attempts in place`);
      for (let i = 1; i <= p.retry.tierDelaysMs.length; i++)
        expect(cells[4]).toContain(`\`${p.name}.retry-${i}\``);
      expect(cells[4]).toContain(`\`${p.name}.dlt\``);
    }
    expect(table).toMatch(/^\| \*\*analytics-router\*\* +\|/m);
    // Padded like the formatter pads it: every line as long as the header.
    const lengths = new Set(
      table
        .trimEnd()
        .split('\n')
        .map((l) => [...l].length),
    );
    expect(lengths.size).toBe(1);
    expect(
      processorTable({ ...topology, processors: [{ ...topology.processors[0]!, effects: undefined }] }),
    ).toContain('not documented yet');
  });
});
