import { describe, expect, it } from 'vitest';
import { parseClock, SimulatedClock, systemClock } from '../../lib/clock.ts';
import { UsageError } from '../../lib/errors.ts';
import { topology } from '../../topology/index.ts';
import { schedulerNamesFor } from './names.ts';
import { DEFAULT_TICK_LOG_NAMES } from './tick-log.ts';

const jobsInput = topology.processors.find((p) => p.name === 'scheduler-jobs')!.inputs;
const simulated = (anchorMs = 1_000) =>
  new SimulatedClock(new Date('2026-11-01T00:00:00-07:00'), { speed: 1_440, anchorMs });

describe('scheduler names (regflow schedulers run --sim-prefix)', () => {
  it('system clock: the real names, the topic scheduler-jobs reads', () => {
    const { names, leasePrefix } = schedulerNamesFor(systemClock, 'simulated');
    expect(names).toEqual(DEFAULT_TICK_LOG_NAMES);
    expect(jobsInput).toContain(names.topic);
    expect(leasePrefix).toBe('regflow:scheduler');
  });

  it('simulated clock, default prefix: everything prefixed, never the topic scheduler-jobs reads', () => {
    const { names, leasePrefix } = schedulerNamesFor(simulated());
    expect(names).toEqual({
      topic: 'simulated.scheduler.ticks',
      transactionalId: 'simulated-regflow-scheduler',
      stateGroup: 'simulated-regflow-scheduler-state',
    });
    expect(leasePrefix).toBe('simulated:scheduler');
    expect(jobsInput).not.toContain(names.topic);
    expect(schedulerNamesFor(simulated(), 'demo').names.topic).toBe('demo.scheduler.ticks');
  });

  it('simulated clock, --sim-prefix none: ticks on the topic scheduler-jobs reads; the state stays apart, one per time line', () => {
    const clock = parseClock('simulated:2026-11-01T00:00:00-07:00,speed=1440,anchor=1000');
    const { names, leasePrefix } = schedulerNamesFor(clock, 'none');
    expect(names.topic).toBe(DEFAULT_TICK_LOG_NAMES.topic);
    expect(jobsInput).toContain(names.topic);
    // never the real scheduler's transactional id, state or lease
    expect(names.transactionalId).not.toBe(DEFAULT_TICK_LOG_NAMES.transactionalId);
    expect(names.stateGroup).not.toBe(DEFAULT_TICK_LOG_NAMES.stateGroup);
    expect(leasePrefix).not.toBe('regflow:scheduler');
    expect(names.stateGroup).toMatch(/^simulated-[0-9a-f]{12}-regflow-scheduler-state$/);
    // replicas on one time line share them (and fence each other); a new time line starts afresh
    expect(schedulerNamesFor(simulated(1_000), 'none')).toEqual({ names, leasePrefix });
    expect(schedulerNamesFor(simulated(2_000), 'none').names.stateGroup).not.toBe(names.stateGroup);
  });

  it('refuses a prefix that cannot name a topic, naming the option', () => {
    expect(() => schedulerNamesFor(simulated(), 'my prefix')).toThrow(UsageError);
    expect(() => schedulerNamesFor(simulated(), '')).toThrow(/--sim-prefix/);
  });
});
