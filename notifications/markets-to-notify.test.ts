import { describe, expect, it } from 'vitest';
import { marketsToNotify, type PolledMarket } from './markets-to-notify.ts';

const NOW = new Date('2026-03-09T16:30:00Z'); // 9:30 PDT
const MIN = 60_000;
const market = (
  id: string,
  presaleInMs: number,
  notificationInMs: number | null,
  notified = false,
): PolledMarket => ({
  id,
  campaignId: 'c1',
  presaleAt: new Date(NOW.getTime() + presaleInMs),
  notificationAt: notificationInMs === null ? null : new Date(NOW.getTime() + notificationInMs),
  notifiedAt: notified ? new Date(NOW.getTime() - MIN) : null,
});
const ids = (markets: PolledMarket[]) => markets.map((m) => m.id);

describe('marketsToNotify', () => {
  it('notifies a market whose notification time has come, including exactly now', () => {
    const decision = marketsToNotify(
      [market('due', 60 * MIN, 0), market('overdue', 60 * MIN, -20 * MIN)],
      NOW,
    );
    expect(ids(decision.notify)).toEqual(['due', 'overdue']);
    expect(decision.cleanup).toEqual([]);
  });

  it('leaves a market whose notification time is a millisecond away', () => {
    const decision = marketsToNotify([market('later', 60 * MIN, 1)], NOW);
    expect(decision).toEqual({ notify: [], cleanup: [], missed: [] });
  });

  it('notifies with the presale exactly 5 minutes ahead, and reports one a millisecond closer as missed', () => {
    const decision = marketsToNotify(
      [market('edge', 5 * MIN, -MIN), market('close', 5 * MIN - 1, -MIN)],
      NOW,
    );
    expect(ids(decision.notify)).toEqual(['edge']);
    expect(ids(decision.missed)).toEqual(['close']);
  });

  it('cleans up a market whose presale has started or passed, planned time or not', () => {
    const decision = marketsToNotify(
      [
        market('started', 0, -60 * MIN),
        market('past', -MIN, -60 * MIN),
        market('pastNotified', -MIN, -60 * MIN, true),
      ],
      NOW,
    );
    expect(ids(decision.cleanup)).toEqual(['started', 'past', 'pastNotified']);
    expect(decision.notify).toEqual([]);
  });

  it('does not ask again for a market already notified, nor touch an unplanned one', () => {
    const decision = marketsToNotify(
      [market('notified', 60 * MIN, -MIN, true), market('unplanned', -MIN, null)],
      NOW,
    );
    expect(decision).toEqual({ notify: [], cleanup: [], missed: [] });
  });
});
