import { describe, expect, it } from 'vitest';
import { parseClock, SimulatedClock, systemClock } from './clock.ts';
import { ValidationError } from './errors.ts';

const at = (iso: string) => new Date(iso);

describe('SimulatedClock', () => {
  it('stands still until advanced, then reads the advanced time', () => {
    const clock = new SimulatedClock(at('2026-03-08T08:00:00Z'));
    expect(clock.now().toISOString()).toBe('2026-03-08T08:00:00.000Z');
    clock.advance(24 * 3_600_000);
    expect(clock.now().toISOString()).toBe('2026-03-09T08:00:00.000Z');
  });

  it('wakes a sleeper when advanced past its instant, not before', async () => {
    const clock = new SimulatedClock(at('2026-03-08T08:00:00Z'));
    let woke = false;
    const sleeping = clock.sleepUntil(at('2026-03-08T08:05:00Z')).then(() => {
      woke = true;
    });
    clock.advance(4 * 60_000);
    await Promise.resolve();
    expect(woke).toBe(false);
    clock.advance(60_000);
    await sleeping;
    expect(woke).toBe(true);
  });

  it('runs at a speed against real time, and two clocks with one anchor agree', () => {
    let real = 1_000_000;
    const options = { speed: 1_440, anchorMs: 1_000_000, realNow: () => real };
    const a = new SimulatedClock(at('2026-11-01T07:00:00Z'), options);
    const b = new SimulatedClock(at('2026-11-01T07:00:00Z'), options);
    real += 60_000; // one real minute = one simulated day
    expect(a.now().toISOString()).toBe('2026-11-02T07:00:00.000Z');
    expect(b.now().getTime()).toBe(a.now().getTime());
  });

  it('wakes sleepers through real timers when it runs at a speed', async () => {
    const clock = new SimulatedClock(new Date(), { speed: 3_600 });
    const started = Date.now();
    await clock.sleepUntil(new Date(clock.now().getTime() + 3_600_000)); // one simulated hour
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects a sleeper when its signal aborts', async () => {
    const clock = new SimulatedClock(at('2026-03-08T08:00:00Z'));
    const controller = new AbortController();
    const sleeping = clock.sleepUntil(at('2026-03-09T08:00:00Z'), controller.signal);
    controller.abort(new Error('stopping'));
    await expect(sleeping).rejects.toThrow('stopping');
  });

  it('refuses a negative advance and a bad speed, naming them', () => {
    const clock = new SimulatedClock(at('2026-03-08T08:00:00Z'));
    expect(() => clock.advance(-1)).toThrow(ValidationError);
    expect(() => new SimulatedClock(new Date(), { speed: -2 })).toThrow(/clock speed/);
  });
});

describe('parseClock', () => {
  it('gives the system clock for "system"', () => {
    expect(parseClock('system')).toBe(systemClock);
  });

  it('reads a simulated start, speed and anchor', () => {
    const clock = parseClock('simulated:2026-11-01T00:00:00-07:00,speed=0,anchor=5');
    expect(clock.now().toISOString()).toBe('2026-11-01T07:00:00.000Z');
  });

  it('names the flag and the problem in bad specs', () => {
    expect(() => parseClock('tomorrow')).toThrow(/--clock: expected "system"/);
    expect(() => parseClock('simulated:noon')).toThrow(/--clock: start noon is not an ISO instant/);
    expect(() => parseClock('simulated:2026-11-01T00:00:00Z,pace=3')).toThrow(/unknown option pace/);
  });
});
