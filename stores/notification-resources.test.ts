import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { SimulatedClock, systemClock } from '../lib/clock.ts';
import { exportWriterProcessor } from '../processors/export-writer/processor.ts';
import { notificationGeneratorProcessor } from '../processors/notification-generator/processor.ts';
import { schedulerJobsProcessor } from '../processors/scheduler-jobs/processor.ts';
import { clockResource } from './notification-resources.ts';

describe('clock resource', () => {
  it('is one resource for every processor of a process (they run side by side in `regflow run`)', () => {
    const clocks = [schedulerJobsProcessor(), notificationGeneratorProcessor(), exportWriterProcessor()].map(
      (d) => (d.resources as Record<string, unknown>).clock,
    );
    expect(clocks[0]).toBeDefined();
    expect(new Set(clocks).size).toBe(1);
    expect(clockResource()).toBe(clockResource());
  });

  it('opens the configured clock, or the one it was given', async () => {
    const config = loadConfig({ REGFLOW_CLOCK: 'system' });
    const ctx = { config, use: async () => undefined } as never;
    expect(await clockResource().open(ctx)).toBe(systemClock);
    const simulated = new SimulatedClock(new Date('2026-11-30T08:00:00Z'));
    expect(await clockResource(simulated).open(ctx)).toBe(simulated);
  });
});
