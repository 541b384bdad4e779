import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from '../../lib/clock.ts';
import type { SchedulerTick } from '../../schemas/types.generated.ts';
import type { FiredState } from './due-ticks.ts';
import { type Lease, startScheduler, type TickLogPort } from './scheduler.ts';
import { CronSchedule, SCHEDULES } from './schedules.ts';

// The replica loop with in-memory stand-ins: a lease shared by the replicas of a test, and a tick
// log that, like Kafka's transactional id, admits appends only from the newest opener.

const logger = pino({ level: 'silent' });
const schedules = SCHEDULES.map((s) => new CronSchedule(s));

class MemoryLeaseStore {
  holder: string | null = null;
  fence = 0;
  lease(owner: string): Lease & { drop(): void } {
    return {
      ttlMs: 60,
      tryAcquire: async () => {
        if (this.holder !== null) return null;
        this.holder = owner;
        return ++this.fence;
      },
      renew: async () => this.holder === owner,
      release: async () => {
        if (this.holder === owner) this.holder = null;
      },
      drop: () => {
        this.holder = null; // the lease "expired" behind the owner's back
      },
    };
  }
}

class MemoryTickLog {
  ticks: SchedulerTick[] = [];
  state: FiredState = {};
  epoch = 0;
  failNext = false;
  open = async (): Promise<{ log: TickLogPort; state: FiredState }> => {
    const mine = ++this.epoch;
    return {
      state: { ...this.state },
      log: {
        append: async (ticks, state) => {
          if (mine !== this.epoch) throw new Error('fenced');
          if (this.failNext) {
            this.failNext = false;
            throw new Error('broker unavailable');
          }
          this.ticks.push(...ticks);
          this.state = { ...state };
        },
        close: async () => {},
      },
    };
  };
}

const ids = (ticks: SchedulerTick[], schedule: string) =>
  ticks.filter((t) => t.schedule === schedule).map((t) => t.tickId);
const expectedIds = (schedule: string, from: string, to: string) =>
  schedules
    .find((s) => s.name === schedule)!
    .ticksBetween(new Date(from).getTime() - 1, new Date(to).getTime())
    .map((t) => `${schedule}@${new Date(t).toISOString()}`);

/** Advances the clock minute by minute to `to`, letting the loop fire what comes due. */
async function runUntil(clock: SimulatedClock, to: string, log: MemoryTickLog) {
  const end = new Date(to).getTime();
  while (clock.now().getTime() < end) {
    clock.advance(60_000);
    const now = clock.now().getTime();
    const due = schedules.filter((s) => s.matches(now)).length;
    if (due > 0)
      await vi.waitFor(() => expect(log.ticks.some((t) => t.scheduledAt === now)).toBe(true), {
        interval: 1,
      });
  }
}

describe('a scheduler replica (in-memory lease and log, simulated clock)', () => {
  it('runs the 23-hour spring-forward day in seconds and fires every tick once, in order', async () => {
    const clock = new SimulatedClock(new Date('2026-03-08T00:00:00-08:00'));
    const log = new MemoryTickLog();
    const store = new MemoryLeaseStore();
    const replica = startScheduler({
      schedules,
      clock,
      lease: store.lease('a'),
      openTickLog: log.open,
      replicaId: 'a',
      logger,
      catchUpMax: 12,
    });
    await vi.waitFor(() => expect(log.ticks.length).toBe(3)); // first start: each schedule's latest tick
    await runUntil(clock, '2026-03-09T00:00:00-07:00', log);
    await replica.stop();

    expect(ids(log.ticks, 'markets-to-notify')).toEqual(
      expectedIds('markets-to-notify', '2026-03-08T00:00:00-08:00', '2026-03-09T00:00:00-07:00'),
    );
    expect(ids(log.ticks, 'markets-to-notify')).toHaveLength(277); // 276 in the 23-hour day, plus the start
    expect(ids(log.ticks, 'plan-sends')).toEqual([
      'plan-sends@2026-03-08T08:00:00.000Z',
      'plan-sends@2026-03-09T07:00:00.000Z',
    ]);
    const times = log.ticks.map((t) => t.scheduledAt);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(log.ticks.map((t) => t.tickId)).size).toBe(log.ticks.length);
    expect(log.ticks.every((t) => t.firedBy === 'a' && t.leaderEpoch === 1)).toBe(true);
    expect(store.holder).toBeNull(); // released on stop
  });

  it('hands over to another replica when the lease is lost, without a gap or a repeat', async () => {
    const clock = new SimulatedClock(new Date('2026-11-01T00:58:00-07:00'));
    const log = new MemoryTickLog();
    const store = new MemoryLeaseStore();
    const leaseA = store.lease('a');
    const a = startScheduler({
      schedules,
      clock,
      lease: leaseA,
      openTickLog: log.open,
      replicaId: 'a',
      logger,
      catchUpMax: 50,
    });
    await vi.waitFor(() => expect(log.ticks.length).toBe(3));
    await runUntil(clock, '2026-11-01T01:30:00-07:00', log);

    leaseA.drop(); // a's lease runs out (a pause, a partition) …
    const b = startScheduler({
      schedules,
      clock,
      lease: store.lease('b'),
      openTickLog: log.open,
      replicaId: 'b',
      logger,
      catchUpMax: 50,
    });
    await vi.waitFor(() => expect(store.holder).toBe('b'));
    await vi.waitFor(() => expect(log.epoch).toBe(2)); // … and b has fenced the log
    await runUntil(clock, '2026-11-01T01:30:00-08:00', log); // through the repeated hour
    await a.stop();
    await b.stop();

    expect(ids(log.ticks, 'markets-to-notify')).toEqual(
      expectedIds('markets-to-notify', '2026-11-01T00:55:00-07:00', '2026-11-01T01:30:00-08:00'),
    );
    expect(new Set(log.ticks.map((t) => t.firedBy))).toEqual(new Set(['a', 'b']));
    expect(log.ticks.filter((t) => t.firedBy === 'b').every((t) => t.leaderEpoch === 2)).toBe(true);
  });

  it('gives up leadership when the log refuses a commit, then takes it again and fires the tick once', async () => {
    const clock = new SimulatedClock(new Date('2026-11-01T12:00:30-08:00'));
    const log = new MemoryTickLog();
    const store = new MemoryLeaseStore();
    const replica = startScheduler({
      schedules,
      clock,
      lease: store.lease('a'),
      openTickLog: log.open,
      replicaId: 'a',
      logger,
      catchUpMax: 12,
    });
    await vi.waitFor(() => expect(log.ticks.length).toBe(3));
    log.failNext = true;
    clock.advance(5 * 60_000); // 12:05:30: the 12:05 tick's commit fails
    await vi.waitFor(() => expect(log.epoch).toBe(2)); // reopened (re-fenced) after the failure
    await vi.waitFor(() =>
      expect(ids(log.ticks, 'markets-to-notify')).toContain('markets-to-notify@2026-11-01T20:05:00.000Z'),
    );
    await replica.stop();
    expect(ids(log.ticks, 'markets-to-notify')).toEqual([
      'markets-to-notify@2026-11-01T20:00:00.000Z',
      'markets-to-notify@2026-11-01T20:05:00.000Z',
    ]);
    const retried = log.ticks.find((t) => t.tickId === 'markets-to-notify@2026-11-01T20:05:00.000Z')!;
    expect(retried).toMatchObject({ catchUp: true, leaderEpoch: 2 });
  });
});
