import { describe, expect, it } from 'vitest';
import { type ReminderFan, reminderRecords } from './reminder-records.ts';

const campaign = { id: 'camp-1', name: 'Artist Tour' };
const market = {
  id: 'la',
  campaignId: 'camp-1',
  presaleAt: new Date('2026-03-09T17:30:00Z'),
  timezone: 'America/Los_Angeles',
  eventLink: 'https://tickets.example.com/e/1',
};
const fan = (globalUserId: string, extra: Partial<ReminderFan> = {}): ReminderFan => ({
  globalUserId,
  locale: 'en-US',
  verdict: true,
  phoneNumber: '+13105550100',
  code: { marketId: 'la', value: `CODE-${globalUserId}` },
  ...extra,
});

describe('reminderRecords', () => {
  it('writes one record per eligible fan, keyed by fan and campaign-market, in the fan’s language', () => {
    const { records, dropped, ineligible } = reminderRecords(campaign, market, [
      fan('u1'),
      fan('u2', { locale: 'es-US' }),
    ]);
    expect(ineligible).toBe(0);
    expect(dropped).toEqual({});
    expect(records.map((r) => [r.PK, r.SK, r.locale])).toEqual([
      ['fan:u1', 'asu#camp-1-la#reminder', 'en-US'],
      ['fan:u2', 'asu#camp-1-la#reminder', 'es-US'],
    ]);
    expect(records[0]!.body).toBe(
      'Reminder: the presale for Artist Tour starts Monday, March 9 at 10:30 AM PDT. Your access code: CODE-u1. Tickets: https://tickets.example.com/e/1',
    );
    expect(records[1]!.body).toContain('Tu código de acceso: CODE-u2.');
  });

  it('leaves out losers, fans without this market’s code and international phones', () => {
    const batch = reminderRecords(campaign, market, [
      fan('loser', { verdict: false }),
      fan('other', { code: { marketId: 'ny', value: 'X' } }),
      fan('uk', { phoneNumber: '+447700900123' }),
      fan('ok'),
    ]);
    expect(batch.records.map((r) => r.globalUserId)).toEqual(['ok']);
    expect(batch.ineligible).toBe(3);
  });

  it('drops and counts eligible fans whose message has no body', () => {
    const batch = reminderRecords(campaign, market, [
      fan('de', { locale: 'de-DE' }),
      fan('none', { locale: null }),
      fan('ok'),
    ]);
    expect(batch.records).toHaveLength(1);
    expect(batch.dropped).toEqual({ UNKNOWN_LOCALE: 2 });
    const noLink = reminderRecords(campaign, { ...market, eventLink: '' }, [fan('a'), fan('b')]);
    expect(noLink).toEqual({ records: [], dropped: { 'MISSING_DATA:eventLink': 2 }, ineligible: 0 });
  });

  it('gives zero records for a market without eligible fans', () => {
    expect(reminderRecords(campaign, market, [])).toEqual({ records: [], dropped: {}, ineligible: 0 });
  });

  it('is the same on a replay: same keys, same items, one per fan', () => {
    const fans = [fan('u1'), fan('u2'), fan('u1')];
    const first = reminderRecords(campaign, market, fans);
    expect(first.records).toHaveLength(2);
    expect(reminderRecords(campaign, market, fans)).toEqual(first);
  });
});
