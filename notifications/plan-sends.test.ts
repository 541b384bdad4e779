import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.ts';
import { type CandidateMarket, type PlannedSend, planSends, SkipReason } from './plan-sends.ts';

const LA = 'America/Los_Angeles';
const at = (iso: string) => new Date(iso);
const HOUR = 3_600_000;

const market = (id: string, presaleAt: string, eligibleCount: number, extra: Partial<CandidateMarket> = {}) =>
  ({
    id,
    campaignId: 'c1',
    campaignStatus: 'CLOSED',
    presaleAt: at(presaleAt),
    timezone: LA,
    automatedReminders: true,
    eligibleCount,
    ...extra,
  }) satisfies CandidateMarket;

/** marketId → local notification time, the way an operator reads the plan. */
const localTimes = (planned: PlannedSend[]) =>
  Object.fromEntries(planned.map((p) => [p.marketId, p.notifyAtLocal]));

// Monday 2026-03-09, daily run at midnight Pacific (PDT since Sunday's change).
const MONDAY_MIDNIGHT = at('2026-03-09T00:00:00-07:00');

describe('planSends: Scenario 1 and the volume rule', () => {
  it('plans 500 fans at 1,000/hour for 9:30 before a 10:30 presale, sending until 10:00', () => {
    const { planned } = planSends([market('la', '2026-03-09T10:30:00-07:00', 500)], { now: MONDAY_MIDNIGHT });
    expect(planned).toHaveLength(1);
    expect(planned[0]).toMatchObject({
      marketId: 'la',
      campaignId: 'c1',
      notifyAtLocal: '2026-03-09T09:30:00-07:00',
      durationMs: 30 * 60_000,
      volume: 'normal',
      shiftedEarlierMs: 0,
      late: false,
    });
    expect(planned[0]!.notifyAt.toISOString()).toBe('2026-03-09T16:30:00.000Z');
    expect(planned[0]!.sendsEndAt.toISOString()).toBe('2026-03-09T17:00:00.000Z');
  });

  it('starts a small volume at the target too: 1 hour before the presale', () => {
    const { planned } = planSends([market('la', '2026-03-09T10:30:00-07:00', 40)], { now: MONDAY_MIDNIGHT });
    expect(localTimes(planned)).toEqual({ la: '2026-03-09T09:30:00-07:00' });
  });

  it('starts high volume earlier so the sends end 30 minutes before the presale', () => {
    const { planned } = planSends(
      [
        market('m750', '2026-03-09T10:30:00-07:00', 750, { campaignId: 'a' }),
        market('m2000', '2026-03-09T20:30:00-07:00', 2_000, { campaignId: 'b' }),
      ],
      { now: MONDAY_MIDNIGHT },
    );
    // 750 fans = 45 min: 9:15 to 10:00, inside the ±30 min band around 9:30.
    // 2,000 fans = 2 h: 18:00 to 20:00 for a 20:30 presale; finishing on time wins over the band.
    expect(localTimes(planned)).toEqual({
      m750: '2026-03-09T09:15:00-07:00',
      m2000: '2026-03-09T18:00:00-07:00',
    });
    expect(planned.map((p) => p.volume)).toEqual(['high', 'high']);
    expect(planned.map((p) => p.sendsEndAt.toISOString())).toEqual([
      '2026-03-09T17:00:00.000Z',
      '2026-03-10T03:00:00.000Z',
    ]);
  });

  it('calls one fan more than the rate sends in half an hour high volume', () => {
    const { planned } = planSends([market('la', '2026-03-09T10:30:00-07:00', 501)], { now: MONDAY_MIDNIGHT });
    expect(planned[0]!.volume).toBe('high');
    expect(planned[0]!.durationMs).toBe(1_803_600);
    expect(planned[0]!.sendsEndAt.toISOString()).toBe('2026-03-09T17:00:00.000Z');
  });

  it('uses the configured send rate', () => {
    const { planned } = planSends([market('la', '2026-03-09T10:30:00-07:00', 1_500)], {
      now: MONDAY_MIDNIGHT,
      sendRatePerHour: 3_000,
    });
    expect(planned[0]).toMatchObject({ durationMs: 30 * 60_000, notifyAtLocal: '2026-03-09T09:30:00-07:00' });
  });

  it('plans a market without eligible fans at the target with an empty window', () => {
    const { planned } = planSends([market('none', '2026-03-09T10:30:00-07:00', 0)], { now: MONDAY_MIDNIGHT });
    expect(planned[0]).toMatchObject({ durationMs: 0, notifyAtLocal: '2026-03-09T09:30:00-07:00' });
  });
});

describe('planSends: consecutive presales never share the sender', () => {
  it('moves the earlier presale earlier so both finish on time', () => {
    const { planned } = planSends(
      [market('a', '2026-03-09T10:30:00-07:00', 500), market('b', '2026-03-09T10:45:00-07:00', 500)],
      { now: MONDAY_MIDNIGHT },
    );
    expect(localTimes(planned)).toEqual({
      a: '2026-03-09T09:15:00-07:00',
      b: '2026-03-09T09:45:00-07:00',
    });
    expect(planned.find((p) => p.marketId === 'a')!.shiftedEarlierMs).toBe(15 * 60_000);
    expect(planned.find((p) => p.marketId === 'a')!.sendsEndAt.getTime()).toBe(
      planned.find((p) => p.marketId === 'b')!.notifyAt.getTime(),
    );
  });

  it('chains three markets with the same presale back to back, in id order', () => {
    const presale = '2026-03-09T10:30:00-07:00';
    const { planned } = planSends(
      [market('c', presale, 500), market('a', presale, 500), market('b', presale, 500)],
      { now: MONDAY_MIDNIGHT },
    );
    expect(localTimes(planned)).toEqual({
      a: '2026-03-09T09:30:00-07:00',
      b: '2026-03-09T09:00:00-07:00',
      c: '2026-03-09T08:30:00-07:00',
    });
    const windows = planned.map((p) => [p.notifyAt.getTime(), p.sendsEndAt.getTime()] as const);
    for (let i = 1; i < windows.length; i++)
      expect(windows[i]![0]).toBeGreaterThanOrEqual(windows[i - 1]![1]);
  });

  it('lets windows touch without moving them', () => {
    const { planned } = planSends(
      [market('a', '2026-03-09T10:30:00-07:00', 500), market('b', '2026-03-09T11:00:00-07:00', 500)],
      { now: MONDAY_MIDNIGHT },
    );
    expect(planned.map((p) => p.shiftedEarlierMs)).toEqual([0, 0]);
  });

  it('keeps an already planned window where it is and plans around it', () => {
    const { planned, skipped } = planSends(
      [
        market('old', '2026-03-09T10:40:00-07:00', 500, { notificationAt: at('2026-03-09T09:40:00-07:00') }),
        market('new', '2026-03-09T10:30:00-07:00', 500),
      ],
      { now: MONDAY_MIDNIGHT },
    );
    expect(localTimes(planned)).toEqual({ new: '2026-03-09T09:10:00-07:00' });
    expect(skipped).toEqual([{ marketId: 'old', reason: SkipReason.ALREADY_PLANNED }]);
  });

  it('gives the same plan whatever the input order', () => {
    const markets = [
      market('a', '2026-03-09T10:30:00-07:00', 800),
      market('b', '2026-03-09T10:40:00-07:00', 300),
      market('c', '2026-03-09T10:30:00-07:00', 500),
      market('d', '2026-03-09T12:00:00-07:00', 5_000),
    ];
    const forward = planSends(markets, { now: MONDAY_MIDNIGHT });
    const backward = planSends([...markets].reverse(), { now: MONDAY_MIDNIGHT });
    expect(backward).toEqual(forward);
  });

  it('starts at now and flags the market late when its sends cannot finish on time', () => {
    const now = at('2026-03-09T08:00:00-07:00');
    const { planned } = planSends([market('rush', '2026-03-09T10:00:00-07:00', 3_000)], { now });
    expect(planned[0]).toMatchObject({ late: true, notifyAtLocal: '2026-03-09T08:00:00-07:00' });
    expect(planned[0]!.sendsEndAt.toISOString()).toBe('2026-03-09T18:00:00.000Z');
  });
});

describe('planSends: which markets are planned', () => {
  it('includes a presale exactly 2 h ahead and excludes one a millisecond sooner', () => {
    const now = MONDAY_MIDNIGHT.getTime();
    const result = planSends(
      [
        market('edge', new Date(now + 2 * HOUR).toISOString(), 10),
        market('soon', new Date(now + 2 * HOUR - 1).toISOString(), 10),
      ],
      { now: MONDAY_MIDNIGHT },
    );
    expect(result.planned.map((p) => p.marketId)).toEqual(['edge']);
    expect(result.skipped).toEqual([{ marketId: 'soon', reason: SkipReason.PRESALE_TOO_SOON }]);
  });

  it('includes a presale exactly 27 h ahead and excludes one a millisecond later', () => {
    const now = MONDAY_MIDNIGHT.getTime();
    const result = planSends(
      [
        market('edge', new Date(now + 27 * HOUR).toISOString(), 10),
        market('far', new Date(now + 27 * HOUR + 1).toISOString(), 10),
      ],
      { now: MONDAY_MIDNIGHT },
    );
    expect(result.planned.map((p) => p.marketId)).toEqual(['edge']);
    expect(result.skipped).toEqual([{ marketId: 'far', reason: SkipReason.PRESALE_TOO_FAR }]);
  });

  it('skips markets of a campaign that is not CLOSED, without automatedReminders, or already planned', () => {
    const presale = '2026-03-09T10:30:00-07:00';
    const { planned, skipped } = planSends(
      [
        market('open', presale, 10, { campaignStatus: 'ACTIVE' }),
        market('quiet', presale, 10, { automatedReminders: false }),
        market('done', presale, 10, { notificationAt: at('2026-03-09T09:30:00-07:00') }),
      ],
      { now: MONDAY_MIDNIGHT },
    );
    expect(planned).toEqual([]);
    expect(skipped).toEqual([
      { marketId: 'open', reason: SkipReason.CAMPAIGN_NOT_CLOSED },
      { marketId: 'quiet', reason: SkipReason.REMINDERS_OFF },
      { marketId: 'done', reason: SkipReason.ALREADY_PLANNED },
    ]);
  });

  it('skips a market with bad data, naming the field, and plans the others', () => {
    const presale = '2026-03-09T10:30:00-07:00';
    const { planned, skipped } = planSends(
      [
        market('neg', presale, -1),
        market('tz', presale, 10, { timezone: 'Pacific/Nowhere' }),
        market('date', 'not a date', 10),
        market('ok', presale, 10),
      ],
      { now: MONDAY_MIDNIGHT },
    );
    expect(planned.map((p) => p.marketId)).toEqual(['ok']);
    expect(skipped.map((s) => [s.marketId, s.reason, s.detail?.split(':')[0]])).toEqual([
      ['neg', 'INVALID', 'eligibleCount'],
      ['tz', 'INVALID', 'timezone'],
      ['date', 'INVALID', 'presaleAt'],
    ]);
  });

  it('refuses a send rate that is not positive', () => {
    expect(() => planSends([], { now: MONDAY_MIDNIGHT, sendRatePerHour: 0 })).toThrow(ValidationError);
    expect(() => planSends([], { now: MONDAY_MIDNIGHT, sendRatePerHour: 0 })).toThrow(/sendRatePerHour/);
  });
});

describe('planSends across daylight-saving nights (America/Los_Angeles)', () => {
  it('spring forward (2026-03-08): "1 h before" is one real hour, not a wall-clock reading that does not exist', () => {
    const runAt = at('2026-03-08T00:00:00-08:00'); // midnight PST
    const { planned } = planSends([market('early', '2026-03-08T03:30:00-07:00', 500)], { now: runAt });
    // 03:30 PDT is 2.5 real hours after midnight; 02:30 does not exist that night, 01:30 PST is 1 h before.
    expect(localTimes(planned)).toEqual({ early: '2026-03-08T01:30:00-08:00' });
    expect(planned[0]!.notifyAt.toISOString()).toBe('2026-03-08T09:30:00.000Z');
  });

  it('spring forward: the 23-hour day leaves no presale unplanned between two daily runs', () => {
    const first = at('2026-03-08T00:00:00-08:00');
    const second = at('2026-03-09T00:00:00-07:00');
    expect(second.getTime() - first.getTime()).toBe(23 * HOUR);
    // 04:00 PDT on the 9th is the first run's 27 h edge and 4 h after the second run.
    const edge = market('edge', '2026-03-09T04:00:00-07:00', 10);
    expect(planSends([edge], { now: first }).planned.map((p) => p.marketId)).toEqual(['edge']);
    expect(planSends([edge], { now: second }).planned.map((p) => p.marketId)).toEqual(['edge']);
  });

  it('fall back (2026-11-01): a presale at the second 01:30 gets its reminder at the first 01:30', () => {
    const runAt = at('2026-11-01T00:00:00-07:00'); // midnight PDT
    const { planned } = planSends([market('twice', '2026-11-01T01:30:00-08:00', 500)], { now: runAt });
    expect(localTimes(planned)).toEqual({ twice: '2026-11-01T01:30:00-07:00' });
    expect(planned[0]!.notifyAt.toISOString()).toBe('2026-11-01T08:30:00.000Z');
  });

  it('fall back: on the 25-hour day the 27 h edge of one run is the 2 h edge of the next', () => {
    const first = at('2026-11-01T00:00:00-07:00');
    const second = at('2026-11-02T00:00:00-08:00');
    expect(second.getTime() - first.getTime()).toBe(25 * HOUR);
    const edge = market('edge', '2026-11-02T02:00:00-08:00', 10);
    expect(planSends([edge], { now: first }).planned.map((p) => p.marketId)).toEqual(['edge']);
    expect(planSends([edge], { now: second }).planned.map((p) => p.marketId)).toEqual(['edge']);
    // Once the first run has planned it, the second leaves it alone.
    const plannedEdge = { ...edge, notificationAt: at('2026-11-02T01:00:00-08:00') };
    expect(planSends([plannedEdge], { now: second }).skipped).toEqual([
      { marketId: 'edge', reason: SkipReason.ALREADY_PLANNED },
    ]);
  });
});
