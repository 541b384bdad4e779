// markets-to-notify (spec Use Case 4, Polling Phase), run every 5 minutes:
//
//   notify    date.notification <= now, the presale at least 5 minutes ahead (presale − now >=
//             5 min, edge included), and not yet notified (date.notified unset; the generator
//             checks again, this only spares it a request per poll until the presale).
//   cleanup   date.notification set and the presale has started (presale <= now): unset
//             date.notification so the market leaves the poll.
//   missed    due, not notified, but the presale is less than 5 minutes away: too late to
//             send; reported (the caller counts and logs them) and cleaned up once the presale starts.
// Markets whose date.notification is in the future are simply not due.

export const MIN_LEAD_BEFORE_PRESALE_MS = 5 * 60_000;

export interface PolledMarket {
  id: string;
  campaignId: string;
  presaleAt: Date;
  /** date.notification */
  notificationAt?: Date | null;
  /** date.notified */
  notifiedAt?: Date | null;
}

export interface PollDecision {
  notify: PolledMarket[];
  cleanup: PolledMarket[];
  missed: PolledMarket[];
}

export function marketsToNotify(markets: readonly PolledMarket[], now: Date): PollDecision {
  const nowMs = now.getTime();
  const decision: PollDecision = { notify: [], cleanup: [], missed: [] };
  for (const market of markets) {
    if (market.notificationAt == null) continue;
    const presaleMs = market.presaleAt.getTime();
    if (presaleMs <= nowMs) {
      decision.cleanup.push(market);
      continue;
    }
    if (market.notificationAt.getTime() > nowMs || market.notifiedAt != null) continue;
    if (presaleMs - nowMs >= MIN_LEAD_BEFORE_PRESALE_MS) decision.notify.push(market);
    else decision.missed.push(market);
  }
  return decision;
}
