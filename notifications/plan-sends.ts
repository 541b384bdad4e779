import { TZDate } from '@date-fns/tz';
import { format } from 'date-fns';
import { ValidationError } from '../lib/errors.ts';

// plan-sends (spec Use Case 4, Planning Phase): when each market's reminders go out.
//
// The rules, with instants only (time zones never enter the arithmetic, so a daylight-saving
// night changes nothing: "1 hour before" is 3,600 real seconds before):
//
//   window      presale is 2 h to 27 h from now, both edges included. The daily run is at local
//               midnight, and local days last 23 to 25 h, so [midnight + 2 h, midnight + 27 h]
//               of consecutive runs always overlap or touch: on the 25-hour fall-back day the
//               27 h edge of one run is exactly the 2 h edge of the next, and nothing is missed.
//   candidates  date.notification not set, campaign CLOSED, options.automatedReminders.
//   duration    d = ceil(eligible × 3,600,000 / sendRatePerHour) ms (eligible = winners with a
//               code and a +1 phone; the count comes from the entry store).
//   band        reminders belong to the hour centred on 1 h before the presale P ("target 1 hour
//               before presale, ±30 minutes"): [P − 90 min, P − 30 min].
//   normal      d ≤ 30 min: sends start at the target, P − 60 min, and end by P − 30 min.
//               Scenario 1: 500 fans at 1,000/hour → d = 30 min → start 9:30 for a 10:30 presale.
//   high        d > 30 min (more than the rate sends in the half hour after the target): sends
//               end at the band's end, P − 30 min, and start d earlier (P − 30 min − d); up to
//               d = 60 min they stay inside the band, beyond it finishing on time wins.
//   no overlap  markets share one sender, so send windows [start, start + d) never overlap,
//               neither each other nor the windows of markets planned earlier. Windows are placed
//               latest deadline first, each as late as its ideal allows without overlapping what
//               is placed (as-late-as-possible scheduling: an earlier presale moves earlier, so
//               every market still finishes on time whenever that is possible at all).
//   late        a window that would have to start before now starts at the first free instant
//               after now instead, and is flagged `late` (its sends end after its ideal end).

export const PLAN_WINDOW = { minAheadMs: 2 * 3_600_000, maxAheadMs: 27 * 3_600_000 } as const;
export const TARGET_BEFORE_PRESALE_MS = 60 * 60_000;
export const BAND_HALF_WIDTH_MS = 30 * 60_000;
export const DEFAULT_SEND_RATE_PER_HOUR = 1_000;

export interface CandidateMarket {
  id: string;
  campaignId: string;
  campaignStatus: string;
  presaleAt: Date;
  /** IANA time zone of the market (for the operator's local rendering only). */
  timezone: string;
  automatedReminders: boolean;
  /** date.notification: set once the market is planned. */
  notificationAt?: Date | null;
  /** Winners with a code for this market and a +1 phone. */
  eligibleCount: number;
}

export const SkipReason = {
  PRESALE_TOO_SOON: 'PRESALE_TOO_SOON',
  PRESALE_TOO_FAR: 'PRESALE_TOO_FAR',
  ALREADY_PLANNED: 'ALREADY_PLANNED',
  CAMPAIGN_NOT_CLOSED: 'CAMPAIGN_NOT_CLOSED',
  REMINDERS_OFF: 'REMINDERS_OFF',
  INVALID: 'INVALID',
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export interface PlannedSend {
  marketId: string;
  campaignId: string;
  presaleAt: Date;
  /** The value for date.notification: when the sends start. */
  notifyAt: Date;
  sendsEndAt: Date;
  durationMs: number;
  volume: 'normal' | 'high';
  /** How much earlier than its ideal start the window moved to avoid an overlap (0 if it did not). */
  shiftedEarlierMs: number;
  /** The window could not end by its ideal end (it would have had to start in the past). */
  late: boolean;
  /** notifyAt in the market's time zone, ISO with offset, for logs. */
  notifyAtLocal: string;
}

export interface Skipped {
  marketId: string;
  reason: SkipReason;
  detail?: string;
}

export interface PlanResult {
  /** Ordered by notifyAt. */
  planned: PlannedSend[];
  skipped: Skipped[];
}

export interface PlanOptions {
  now: Date;
  sendRatePerHour?: number;
}

export const sendDurationMs = (eligible: number, ratePerHour: number) =>
  Math.ceil((eligible * 3_600_000) / ratePerHour);

/** The window a market would get if it had the sender to itself. */
export function idealWindow(presaleAt: Date, durationMs: number): { startMs: number; endMs: number } {
  const presale = presaleAt.getTime();
  if (durationMs <= BAND_HALF_WIDTH_MS) {
    const startMs = presale - TARGET_BEFORE_PRESALE_MS;
    return { startMs, endMs: startMs + durationMs };
  }
  const endMs = presale - TARGET_BEFORE_PRESALE_MS + BAND_HALF_WIDTH_MS;
  return { startMs: endMs - durationMs, endMs };
}

interface Interval {
  startMs: number;
  endMs: number;
}

// Half-open intervals: a window may start exactly when another ends. Empty windows overlap nothing.
const overlaps = (a: Interval, b: Interval) =>
  a.endMs > a.startMs && b.endMs > b.startMs && a.startMs < b.endMs && b.startMs < a.endMs;

/** The latest window of `duration` ending at or before `endMs` that overlaps nothing in `busy`. */
function latestFit(busy: readonly Interval[], endMs: number, duration: number): Interval {
  let end = endMs;
  for (;;) {
    const candidate = { startMs: end - duration, endMs: end };
    const blocking = busy.filter((b) => overlaps(b, candidate));
    if (blocking.length === 0) return candidate;
    end = Math.min(...blocking.map((b) => b.startMs));
  }
}

/** The earliest window of `duration` starting at or after `startMs` that overlaps nothing in `busy`. */
function earliestFit(busy: readonly Interval[], startMs: number, duration: number): Interval {
  let start = startMs;
  for (;;) {
    const candidate = { startMs: start, endMs: start + duration };
    const blocking = busy.filter((b) => overlaps(b, candidate));
    if (blocking.length === 0) return candidate;
    start = Math.max(...blocking.map((b) => b.endMs));
  }
}

function invalid(m: CandidateMarket): string | undefined {
  if (typeof m.id !== 'string' || m.id === '') return 'id: expected a non-empty string';
  if (!(m.presaleAt instanceof Date) || Number.isNaN(m.presaleAt.getTime()))
    return 'presaleAt: expected a valid instant';
  if (!Number.isInteger(m.eligibleCount) || m.eligibleCount < 0)
    return `eligibleCount: expected a whole number >= 0 (got ${m.eligibleCount})`;
  if (m.notificationAt != null && Number.isNaN(m.notificationAt.getTime()))
    return 'notificationAt: expected a valid instant or none';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: m.timezone });
  } catch {
    return `timezone: ${JSON.stringify(m.timezone)} is not an IANA time zone`;
  }
  return undefined;
}

/**
 * Plans the notification time of each market. Give it every market with a presale up to 27 h
 * ahead, planned or not: the planned ones keep their windows, and new windows avoid them.
 * A market with bad data is skipped as INVALID (the detail names the field); it never stops the plan.
 */
export function planSends(markets: readonly CandidateMarket[], options: PlanOptions): PlanResult {
  const rate = options.sendRatePerHour ?? DEFAULT_SEND_RATE_PER_HOUR;
  if (!Number.isFinite(rate) || rate <= 0)
    throw new ValidationError('sendRatePerHour', `expected a number > 0 (got ${rate})`);
  const now = options.now.getTime();
  if (Number.isNaN(now)) throw new ValidationError('now', 'not a valid instant');

  const skipped: Skipped[] = [];
  const busy: Interval[] = [];
  const toPlan: { market: CandidateMarket; durationMs: number; ideal: Interval }[] = [];

  for (const market of markets) {
    const problem = invalid(market);
    if (problem) {
      skipped.push({ marketId: String(market.id), reason: SkipReason.INVALID, detail: problem });
      continue;
    }
    const durationMs = sendDurationMs(market.eligibleCount, rate);
    if (market.notificationAt != null) {
      const startMs = market.notificationAt.getTime();
      if (startMs + durationMs > now) busy.push({ startMs, endMs: startMs + durationMs });
      skipped.push({ marketId: market.id, reason: SkipReason.ALREADY_PLANNED });
      continue;
    }
    const ahead = market.presaleAt.getTime() - now;
    const reason =
      ahead < PLAN_WINDOW.minAheadMs
        ? SkipReason.PRESALE_TOO_SOON
        : ahead > PLAN_WINDOW.maxAheadMs
          ? SkipReason.PRESALE_TOO_FAR
          : market.campaignStatus !== 'CLOSED'
            ? SkipReason.CAMPAIGN_NOT_CLOSED
            : market.automatedReminders !== true
              ? SkipReason.REMINDERS_OFF
              : undefined;
    if (reason) {
      skipped.push({ marketId: market.id, reason });
      continue;
    }
    toPlan.push({ market, durationMs, ideal: idealWindow(market.presaleAt, durationMs) });
  }

  // Latest deadline first; ties broken by id so the plan never depends on input order.
  toPlan.sort((a, b) => b.ideal.endMs - a.ideal.endMs || (a.market.id < b.market.id ? -1 : 1));
  const planned: PlannedSend[] = [];
  for (const { market, durationMs, ideal } of toPlan) {
    let window = latestFit(busy, ideal.endMs, durationMs);
    const late = window.startMs < now;
    if (late) window = earliestFit(busy, now, durationMs);
    busy.push(window);
    planned.push({
      marketId: market.id,
      campaignId: market.campaignId,
      presaleAt: market.presaleAt,
      notifyAt: new Date(window.startMs),
      sendsEndAt: new Date(window.endMs),
      durationMs,
      volume: durationMs > BAND_HALF_WIDTH_MS ? 'high' : 'normal',
      shiftedEarlierMs: late ? 0 : ideal.startMs - window.startMs,
      late,
      notifyAtLocal: format(new TZDate(window.startMs, market.timezone), "yyyy-MM-dd'T'HH:mm:ssXXX"),
    });
  }
  planned.sort((a, b) => a.notifyAt.getTime() - b.notifyAt.getTime() || (a.marketId < b.marketId ? -1 : 1));
  return { planned, skipped };
}
