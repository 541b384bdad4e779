import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../lib/clock.ts';
import { MemoryPager } from '../../lib/pagerduty.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { NotificationRequest } from '../../schemas/types.generated.ts';
import { MemoryNotificationCampaigns } from '../../stores/notification-campaigns.ts';
import { MemoryNotificationStateStore } from '../../stores/notification-state.ts';
import { MemoryReminderWriter } from '../../stores/reminder-writer.ts';
import { MemoryWinnerQueries } from '../../stores/winners.ts';
import { closedCampaign, SCENARIO_NOTIFY_AT, scoringRows } from '../../test/fixtures/notifications.ts';
import { FAN_PAGE, generateForMarket, notificationGeneratorHandler } from './handler.ts';

function setup() {
  const campaigns = new MemoryNotificationCampaigns();
  const state = new MemoryNotificationStateStore();
  const winners = new MemoryWinnerQueries();
  const reminders = new MemoryReminderWriter();
  const pager = new MemoryPager();
  const clock = new SimulatedClock(SCENARIO_NOTIFY_AT);
  const logs: Array<{ obj: object; msg?: string }> = [];
  const log = {
    info: (obj: object, msg?: string) => logs.push({ obj, msg }),
    warn: (obj: object, msg?: string) => logs.push({ obj, msg }),
  };
  const resources = { campaigns, state, winners, reminders, pager, clock };
  return { ...resources, logs, log, resources };
}

const request = (campaignId = 'c1', marketId = 'lax'): NotificationRequest => ({
  requestId: `${campaignId}:${marketId}@${SCENARIO_NOTIFY_AT.toISOString()}`,
  campaignId,
  marketId,
  notificationAt: SCENARIO_NOTIFY_AT.getTime(),
  presaleAt: Date.parse('2026-11-02T18:30:00Z'),
  tickId: 'markets-to-notify@2026-11-02T17:30:00.000Z',
  requestedAt: SCENARIO_NOTIFY_AT.getTime(),
});

describe('notification-generator', () => {
  it('writes one localized record per eligible fan across pages, drops and counts the no-body ones, then marks notified', async () => {
    const s = setup();
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    const n = FAN_PAGE * 2 + 7; // three pages
    s.winners.rows.push(...scoringRows('c1', 'lax', n));
    let beats = 0;
    const out = await generateForMarket(request(), s.resources, s.log, async () => {
      beats++;
    });
    expect(out).toMatchObject({ status: 'NOTIFIED', written: n, dropped: { UNKNOWN_LOCALE: 1 } });
    expect(beats).toBe(3); // one heartbeat per page written: a long market keeps its group membership
    expect(s.reminders.items.size).toBe(n);
    const en = s.reminders.items.get('fan:fan-000000|asu#c1-lax#reminder')!;
    expect(en.body).toContain('Monday, November 2 at 10:30 AM PST');
    expect(en.body).toContain('CODE-lax-0');
    expect(en.body).toContain('https://tickets.example.com/e/lax');
    expect(s.reminders.items.get('fan:fan-000001|asu#c1-lax#reminder')!.body).toMatch(
      /^Recordatorio: .*lunes 2 de noviembre/,
    );
    expect(s.reminders.items.get('fan:fan-000002|asu#c1-lax#reminder')!.body).toMatch(
      /^Rappel : .*lundi 2 novembre à 10 h 30/,
    );
    expect([...s.reminders.items.keys()].some((k) => k.startsWith('fan:x-'))).toBe(false);
    expect((await s.state.getMarket('c1', 'lax'))?.notified).toEqual(SCENARIO_NOTIFY_AT);
  });

  it('writes nothing twice: a second request for a notified market is skipped', async () => {
    const s = setup();
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    s.winners.rows.push(...scoringRows('c1', 'lax', 30));
    await generateForMarket(request(), s.resources, s.log);
    const puts = s.reminders.puts;
    expect(await generateForMarket(request(), s.resources, s.log)).toEqual({ status: 'ALREADY_NOTIFIED' });
    expect(s.reminders.puts).toBe(puts);
  });

  it('skips a missing campaign, logging it', async () => {
    const s = setup();
    expect(await generateForMarket(request('ghost'), s.resources, s.log)).toEqual({
      status: 'CAMPAIGN_NOT_FOUND',
    });
    expect(s.logs.some((l) => l.msg === 'campaign not found: market skipped')).toBe(true);
    expect(await s.state.getMarket('ghost', 'lax')).toBeUndefined();
  });

  it('no eligible fans: zero records, still notified', async () => {
    const s = setup();
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    expect(await generateForMarket(request(), s.resources, s.log)).toMatchObject({
      status: 'NOTIFIED',
      written: 0,
    });
    expect(s.reminders.items.size).toBe(0);
    expect((await s.state.getMarket('c1', 'lax'))?.notified).toBeDefined();
  });

  it('a total failure opens one incident with the market dedup key and leaves the market un-notified', async () => {
    const s = setup();
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    s.winners.rows.push(...scoringRows('c1', 'lax', 40));
    s.reminders.failing = 'ResourceNotFoundException: table gone';
    const out = await generateForMarket(request(), s.resources, s.log);
    expect(out).toMatchObject({ status: 'TOTAL_FAILURE', failed: 40, incident: true });
    expect(s.pager.incidents).toHaveLength(1);
    expect(s.pager.incidents[0]).toMatchObject({ dedupKey: 'regflow-notify-c1-lax' });
    expect(s.pager.incidents[0]!.summary).toContain('table gone');
    expect((await s.state.getMarket('c1', 'lax'))?.notified).toBeUndefined();
    // the next poll, with DynamoDB back, notifies
    s.reminders.failing = undefined;
    expect(await generateForMarket(request(), s.resources, s.log)).toMatchObject({
      status: 'NOTIFIED',
      written: 40,
    });
    expect(s.pager.incidents).toHaveLength(1);
  });

  it('a failing read is a total failure too; an incident that cannot be sent fails the record for a retry', async () => {
    const s = setup();
    s.campaigns.campaigns.set('c1', closedCampaign('c1'));
    // biome-ignore lint/correctness/useYield: a cursor that fails before its first page
    s.winners.reminderFans = async function* () {
      throw new Error('scoring store down');
    };
    s.pager.trigger = async () => {
      throw new Error('pager down');
    };
    const handler = notificationGeneratorHandler();
    const rec = (v: NotificationRequest): InputRecord<NotificationRequest> => ({
      topic: 't',
      partition: 0,
      offset: '1',
      key: 'c1:lax',
      value: v,
      headers: {},
      timestamp: '0',
      attempt: 1,
    });
    const outcomes = await handler([rec(request())], { processor: 'g', log: s.log, resources: s.resources });
    expect(outcomes).toHaveLength(1);
    expect((outcomes[0] as { error: Error }).error.message).toBe('pager down');
  });
});
