import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README, withDiagram } from './readme.ts';

describe('README topology diagram', () => {
  it('is the one generated from the topology (run `npm run readme:topology` after changing it)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(withDiagram(readme)).toBe(readme);
  });
});
