import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../lib/clock.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { SchedulerTick } from '../../schemas/types.generated.ts';
import { MemoryNotificationCampaigns } from '../../stores/notification-campaigns.ts';
import { MemoryNotificationStateStore } from '../../stores/notification-state.ts';
import { MemoryWinnerQueries } from '../../stores/winners.ts';
import {
  closedCampaign,
  market,
  SCENARIO_NOTIFY_AT,
  SCENARIO_PLAN_AT,
  scoringRows,
} from '../../test/fixtures/notifications.ts';
import { schedulerJobsHandler } from './handler.ts';

const topics = { notificationRequests: 'n.req', exportRequests: 'e.req' };

function setup(start = SCENARIO_PLAN_AT) {
  const campaigns = new MemoryNotificationCampaigns();
  const state = new MemoryNotificationStateStore();
  const winners = new MemoryWinnerQueries();
  const clock = new SimulatedClock(start);
  const logs: Array<{ obj: object; msg?: string }> = [];
  const log = {
    info: (obj: object, msg?: string) => logs.push({ obj, msg }),
    warn: (obj: object, msg?: string) => logs.push({ obj, msg }),
  };
  const ctx = {
    processor: 'scheduler-jobs',
    log,
    resources: { campaigns, state, winners, clock, settings: { sendRatePerHour: 1000 } },
  };
  const handler = schedulerJobsHandler(topics);
  const tick = (schedule: string): InputRecord<SchedulerTick> => {
    const at = clock.now().getTime();
    const tickId = `${schedule}@${new Date(at).toISOString()}`;
    return {
      topic: 'scheduler.ticks',
      partition: 0,
      offset: '0',
      key: tickId,
      headers: {},
      timestamp: String(at),
      attempt: 1,
      value: {
        tickId,
        schedule,
        cron: '* * * * *',
        timezone: 'America/Los_Angeles',
        scheduledAt: at,
        firedAt: at,
        catchUp: false,
        skippedBefore: 0,
        leaderEpoch: 1,
        firedBy: 'test',
      },
    };
  };
  return { campaigns, state, winners, clock, logs, run: (schedule: string) => handler(tick(schedule), ctx) };
}

describe('scheduler-jobs: plan-sends', () => {
  it('plans Scenario 1 (500 eligible fans at 1,000/hour → 9:30 for a 10:30 presale), and a redelivered tick changes nothing', async () => {
    const s = setup();
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    // 499 + the winner with an unsupported locale (eligible; only the generator drops it) = 500
    s.winners.rows.push(...scoringRows('c1', 'lax', 499));
    expect(await s.run('plan-sends')).toEqual([]);
    expect((await s.state.getMarket('c1', 'lax'))?.notification).toEqual(SCENARIO_NOTIFY_AT);
    // the non-+1, loser and code-less fans are not counted: 501 would push the start earlier
    expect(await s.winners.countReminderEligible('c1', 'lax')).toBe(500);
    expect(await s.run('plan-sends')).toEqual([]);
    expect((await s.state.getMarket('c1', 'lax'))?.notification).toEqual(SCENARIO_NOTIFY_AT);
    expect(s.logs.filter((l) => l.msg === 'market planned')).toHaveLength(1);
    expect(s.logs.filter((l) => l.msg?.startsWith('market already planned'))).toHaveLength(0);
  });

  it('skips campaigns not CLOSED, markets without automated reminders and presales outside 2–27 h', async () => {
    const s = setup();
    s.campaigns.campaigns.set('open', { ...closedCampaign('open'), status: 'ACTIVE' });
    s.campaigns.campaigns.set(
      'c2',
      closedCampaign('c2', [
        market('off', { options: { automatedReminders: false } }),
        market('soon', {
          presale: { startsAt: '2026-11-02T01:30:00-08:00', timeZone: 'America/Los_Angeles' },
        }),
        market('far', {
          presale: { startsAt: '2026-11-03T03:30:00-08:00', timeZone: 'America/Los_Angeles' },
        }),
        market('edge', {
          presale: { startsAt: '2026-11-03T03:00:00-08:00', timeZone: 'America/Los_Angeles' },
        }),
      ]),
    );
    await s.run('plan-sends');
    expect(await s.state.getMarket('open', 'lax')).toBeUndefined();
    expect(await s.state.getMarket('c2', 'off')).toBeUndefined();
    expect(await s.state.getMarket('c2', 'soon')).toBeUndefined();
    expect(await s.state.getMarket('c2', 'far')).toBeUndefined();
    // 27 h exactly: planned; zero fans → a zero-length window at 1 h before
    expect((await s.state.getMarket('c2', 'edge'))?.notification).toEqual(
      new Date('2026-11-03T10:00:00.000Z'),
    );
  });
});

describe('scheduler-jobs: markets-to-notify', () => {
  it('requests a due market once per poll with a deterministic id and cleans up past presales', async () => {
    const s = setup();
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    await s.state.planNotification('c1', 'lax', SCENARIO_NOTIFY_AT);
    s.clock.set(new Date('2026-11-02T17:25:00.000Z'));
    expect(await s.run('markets-to-notify')).toEqual([]);
    s.clock.set(SCENARIO_NOTIFY_AT);
    const [first, ...rest] = await s.run('markets-to-notify');
    expect(rest).toEqual([]);
    expect(first).toMatchObject({
      topic: 'n.req',
      key: 'c1:lax',
      value: {
        requestId: 'c1:lax@2026-11-02T17:30:00.000Z',
        campaignId: 'c1',
        marketId: 'lax',
        notificationAt: SCENARIO_NOTIFY_AT.getTime(),
      },
    });
    s.clock.advance(5 * 60_000);
    const [second] = await s.run('markets-to-notify');
    expect(second?.value).toMatchObject({ requestId: (first!.value as { requestId: string }).requestId });
    // notified: no more requests
    await s.state.markNotified('c1', 'lax', s.clock.now(), 0);
    expect(await s.run('markets-to-notify')).toEqual([]);
    // past the presale: date.notification unset
    s.clock.set(new Date('2026-11-02T18:30:00.000Z'));
    expect(await s.run('markets-to-notify')).toEqual([]);
    expect((await s.state.getMarket('c1', 'lax'))?.notification).toBeUndefined();
  });

  it('does not request a market less than 5 minutes before its presale (missed, logged)', async () => {
    const s = setup(new Date('2026-11-02T18:26:00.000Z'));
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    await s.state.planNotification('c1', 'lax', SCENARIO_NOTIFY_AT);
    expect(await s.run('markets-to-notify')).toEqual([]);
    expect(s.logs.some((l) => l.msg?.includes('less than 5 minutes'))).toBe(true);
  });
});

describe('scheduler-jobs: reminder-emails and bad ticks', () => {
  it('requests the earliest due export per campaign', async () => {
    const s = setup(new Date('2026-11-01T17:00:00.000Z'));
    await s.state.setReminderEmailDates('c1', [
      new Date('2026-11-01T16:45:00Z'),
      new Date('2026-11-01T16:00:00Z'),
      new Date('2026-11-02T16:00:00Z'),
    ]);
    await s.state.setReminderEmailDates('c2', [new Date('2026-11-02T16:00:00Z')]);
    const out = await s.run('reminder-emails');
    expect(out.map((o) => [o.key, (o.value as { exportId: string }).exportId])).toEqual([
      ['c1', 'c1@2026-11-01T16:00:00.000Z'],
    ]);
  });

  it('refuses a tick of an unknown schedule, naming the field', async () => {
    const s = setup();
    await expect(s.run('brunch')).rejects.toThrow(/schedule: unknown schedule "brunch"/);
  });
});
