import { describe, expect, it } from 'vitest';
import { createMetrics, PendingOutcomes, processorMetrics } from './metrics.ts';

describe('handler outcomes', () => {
  it('holds a chunk’s counts until taken, then forgets them', () => {
    const pending = new PendingOutcomes();
    pending.count('applied');
    pending.count('applied', 2);
    pending.count('stale-rejected');
    pending.count('skipped', 0);
    expect(pending.take()).toEqual([
      ['applied', 3],
      ['stale-rejected', 1],
    ]);
    expect(pending.take()).toEqual([]);
  });

  it('exposes them per processor and outcome as regflow_handler_outcomes_total', async () => {
    const metrics = createMetrics();
    const replicator = processorMetrics(metrics, 'entry-replicator');
    replicator.outcome('stale-rejected', 1);
    replicator.outcome('applied', 4);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'regflow_handler_outcomes_total{outcome="stale-rejected",processor="entry-replicator"} 1',
    );
    expect(text).toContain(
      'regflow_handler_outcomes_total{outcome="applied",processor="entry-replicator"} 4',
    );
  });
});
