import { describe, expect, it } from 'vitest';
import { advanceState, dueTicks, nextTickAfter } from './due-ticks.ts';
import { CronSchedule, SCHEDULES, tickIdOf } from './schedules.ts';

const ms = (iso: string) => new Date(iso).getTime();
const byName = (name: string) => new CronSchedule(SCHEDULES.find((s) => s.name === name)!);
const [planSends, poll, emails] = ['plan-sends', 'markets-to-notify', 'reminder-emails'].map(byName) as [
  CronSchedule,
  CronSchedule,
  CronSchedule,
];
const all = [planSends, poll, emails];
const iso = (t: number) => new Date(t).toISOString();

describe('the schedules in America/Los_Angeles', () => {
  it('names a tick by schedule and UTC instant', () => {
    expect(tickIdOf('plan-sends', ms('2026-11-01T07:00:00Z'))).toBe('plan-sends@2026-11-01T07:00:00.000Z');
  });

  it('fires plan-sends at local midnight: 08:00 UTC in winter, 07:00 UTC in summer', () => {
    const ticks = planSends.ticksBetween(ms('2026-03-06T00:00:00Z'), ms('2026-03-10T00:00:00Z')).map(iso);
    expect(ticks).toEqual([
      '2026-03-06T08:00:00.000Z',
      '2026-03-07T08:00:00.000Z',
      '2026-03-08T08:00:00.000Z',
      '2026-03-09T07:00:00.000Z',
    ]);
  });

  it('has 300 five-minute and 100 fifteen-minute ticks on the 25-hour fall-back day, the repeated hour included', () => {
    const from = ms('2026-11-01T00:00:00-07:00');
    const to = ms('2026-11-02T00:00:00-08:00');
    expect(poll.ticksBetween(from, to)).toHaveLength(300);
    expect(emails.ticksBetween(from, to)).toHaveLength(100);
    expect(planSends.ticksBetween(from, to).map(iso)).toEqual(['2026-11-02T08:00:00.000Z']);
    const repeated = poll.ticksBetween(ms('2026-11-01T01:00:00-07:00'), ms('2026-11-01T02:00:00-08:00'));
    expect(repeated).toHaveLength(24); // 01:05 PDT … 01:55 PST … 02:00 PST
  });

  it('has 276 five-minute ticks on the 23-hour spring-forward day', () => {
    const from = ms('2026-03-08T00:00:00-08:00');
    const to = ms('2026-03-09T00:00:00-07:00');
    expect(poll.ticksBetween(from, to)).toHaveLength(276);
    expect(emails.ticksBetween(from, to)).toHaveLength(92);
  });

  it('goes from 01:55 PDT to 01:00 PST on the fall-back night (node-cron 4.6 itself would jump to 02:00 PST)', () => {
    expect(iso(poll.nextAfter(ms('2026-11-01T01:55:00-07:00')))).toBe('2026-11-01T09:00:00.000Z');
    expect(iso(nextTickAfter(all, ms('2026-11-01T01:57:00-07:00')))).toBe('2026-11-01T09:00:00.000Z');
  });

  it('refuses a bad expression or zone, naming the schedule', () => {
    expect(() => new CronSchedule({ ...SCHEDULES[0]!, cron: '61 * * * *' })).toThrow(/plan-sends: cron/);
    expect(() => new CronSchedule({ ...SCHEDULES[0]!, cron: '0 0 0 * * *' })).toThrow(/5-field/);
    expect(() => new CronSchedule({ ...SCHEDULES[0]!, timezone: 'Moon/Base' })).toThrow(
      /plan-sends: timezone/,
    );
  });
});

describe('dueTicks', () => {
  const noon = ms('2026-11-01T12:00:00-08:00');

  it('fires every tick since the last fired one while running, in order', () => {
    const state = {
      'markets-to-notify': noon - 10 * 60_000,
      'reminder-emails': noon - 15 * 60_000,
      'plan-sends': ms('2026-11-01T00:00:00-07:00'),
    };
    const due = dueTicks(all, state, noon, { startUp: false, catchUpMax: 2 });
    expect(due.map((t) => t.tickId)).toEqual([
      'markets-to-notify@2026-11-01T19:55:00.000Z',
      'markets-to-notify@2026-11-01T20:00:00.000Z',
      'reminder-emails@2026-11-01T20:00:00.000Z',
    ]);
    expect(due.every((t) => !t.catchUp && t.skippedBefore === 0)).toBe(true);
    expect(advanceState(state, due)).toEqual({
      ...state,
      'markets-to-notify': noon,
      'reminder-emails': noon,
    });
  });

  it('catches up at start: the most recent missed ticks up to the cap, the older ones counted as skipped', () => {
    const state = { 'markets-to-notify': noon - 60 * 60_000 };
    const due = dueTicks([poll], state, noon + 60_000, { startUp: true, catchUpMax: 3 });
    expect(due.map((t) => [iso(t.scheduledAtMs), t.catchUp, t.skippedBefore])).toEqual([
      ['2026-11-01T19:50:00.000Z', true, 9],
      ['2026-11-01T19:55:00.000Z', true, 0],
      ['2026-11-01T20:00:00.000Z', true, 0],
    ]);
  });

  it('catches up the missed midnight of plan-sends after a night of downtime', () => {
    const state = { 'plan-sends': ms('2026-11-01T00:00:00-07:00') };
    const due = dueTicks([planSends], state, ms('2026-11-02T06:10:00-08:00'), {
      startUp: true,
      catchUpMax: 12,
    });
    expect(due.map((t) => t.tickId)).toEqual(['plan-sends@2026-11-02T08:00:00.000Z']);
  });

  it('fires only the latest tick of a schedule that has never fired', () => {
    const due = dueTicks(all, {}, noon + 7 * 60_000, { startUp: true, catchUpMax: 12 });
    expect(due.map((t) => t.tickId)).toEqual([
      'plan-sends@2026-11-01T07:00:00.000Z',
      'reminder-emails@2026-11-01T20:00:00.000Z',
      'markets-to-notify@2026-11-01T20:05:00.000Z',
    ]);
  });

  it('has nothing due between ticks', () => {
    const state = { 'markets-to-notify': noon };
    expect(dueTicks([poll], state, noon + 4 * 60_000 + 59_999, { startUp: false, catchUpMax: 12 })).toEqual(
      [],
    );
  });
});
