import { describe, expect, it } from 'vitest';
import { clockSpec, demoTimeline, expectedNotification, localTime, realTimeOf } from './timeline.ts';

describe('demo timeline', () => {
  it('puts the presale on the next Monday 10:30 in Los Angeles, at least two days ahead', () => {
    // Thursday 2026-11-26 09:00 UTC → Monday 2026-11-30 10:30 PST (18:30 UTC).
    const t = demoTimeline({ now: new Date('2026-11-26T09:00:00Z'), eligible: 500, sendRatePerHour: 1000 });
    expect(t.presaleAt.toISOString()).toBe('2026-11-30T18:30:00.000Z');
    expect(localTime(t.presaleAt)).toBe('Mon 2026-11-30 10:30 PST');
    expect(localTime(t.planAt)).toBe('Mon 2026-11-30 00:00 PST');
    expect(localTime(t.reminderEmailAt)).toBe('Sun 2026-11-29 23:45 PST');
    expect(localTime(t.simStart)).toBe('Sun 2026-11-29 23:30 PST');
    // Scenario 1: 500 fans at 1,000/hour → 30 min → 9:30.
    expect(localTime(t.notificationAt)).toBe('Mon 2026-11-30 09:30 PST');
  });

  it('skips a Monday less than two days away (Sunday → the Monday after next)', () => {
    const t = demoTimeline({ now: new Date('2026-11-29T20:00:00Z'), eligible: 500, sendRatePerHour: 1000 });
    expect(localTime(t.presaleAt)).toBe('Mon 2026-12-07 10:30 PST');
  });

  it('keeps 10:30 local across daylight saving (summer: PDT)', () => {
    const t = demoTimeline({ now: new Date('2026-06-10T12:00:00Z'), eligible: 10, sendRatePerHour: 1000 });
    expect(t.presaleAt.toISOString()).toBe('2026-06-15T17:30:00.000Z');
    expect(localTime(t.presaleAt)).toBe('Mon 2026-06-15 10:30 PDT');
  });

  it('runs the simulated span from the start to the notification in about a minute by default', () => {
    const t = demoTimeline({ now: new Date('2026-11-26T09:00:00Z'), eligible: 500, sendRatePerHour: 1000 });
    const realMs = (t.notificationAt.getTime() - t.simStart.getTime()) / t.speed;
    expect(realMs).toBeGreaterThan(55_000);
    expect(realMs).toBeLessThan(65_000);
    expect(demoTimeline({ now: new Date(), eligible: 1, sendRatePerHour: 1000, speed: 900 }).speed).toBe(900);
  });

  it('maps simulated instants to real ones on the shared anchor', () => {
    const t = demoTimeline({ now: new Date('2026-11-26T09:00:00Z'), eligible: 500, sendRatePerHour: 1000 });
    const anchor = 1_000_000;
    expect(clockSpec(t, anchor)).toBe(
      `simulated:${t.simStart.toISOString()},speed=${t.speed},anchor=1000000`,
    );
    expect(realTimeOf(t, anchor, t.simStart)).toBe(anchor);
    expect(realTimeOf(t, anchor, new Date(t.simStart.getTime() + t.speed * 1000))).toBe(anchor + 1000);
  });

  it('expects the spec rule: 1 h before up to 30 min of sends, else ending 30 min before', () => {
    const p = new Date('2026-11-30T18:30:00Z');
    expect(expectedNotification(p, 500, 1000).toISOString()).toBe('2026-11-30T17:30:00.000Z');
    expect(expectedNotification(p, 750, 1000).toISOString()).toBe('2026-11-30T17:15:00.000Z');
    expect(expectedNotification(p, 2000, 1000).toISOString()).toBe('2026-11-30T16:00:00.000Z');
  });
});
