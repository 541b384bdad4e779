import { TZDate } from '@date-fns/tz';
import { format, nextMonday, set } from 'date-fns';

// The demo's dates (Scenario 1), as pure arithmetic on instants:
//
//   presale           the next Monday, 10:30 in Los Angeles, at least two days after the demo starts
//                     (so the presale is ahead in real time too)
//   plan point        that Monday's local midnight: the plan-sends tick that plans the market
//   reminder email    Sunday 23:45 local: date.sendReminderEmails ("the day before the presale")
//   simulated start   30 minutes before the plan point, so the schedulers are up before it
//   notification      what plan-sends should decide for one market alone: a send of d =
//                     ceil(n × 1 h / rate) starts 1 h before the presale when d ≤ 30 min, else it
//                     ends 30 min before the presale (the spec's rule; README, plan-sends)
//
// The notification processes run on a simulated clock anchored when that stage starts; the speed
// takes the simulated span from the start to the notification in about `targetSeconds`.

export const DEMO_ZONE = 'America/Los_Angeles';
const HOUR = 3_600_000;
const MINUTE = 60_000;

export interface Timeline {
  zone: string;
  presaleAt: Date;
  planAt: Date;
  reminderEmailAt: Date;
  simStart: Date;
  notificationAt: Date;
  /** Simulated ms per real ms. */
  speed: number;
}

export interface TimelineOptions {
  now: Date;
  /** Winners with a code and a +1 phone: the eligible count plan-sends sizes the send with. */
  eligible: number;
  sendRatePerHour: number;
  /** Real seconds from the simulated start to the notification (sets the speed). */
  targetSeconds?: number;
  /** Overrides the computed speed. */
  speed?: number;
}

export function expectedNotification(presaleAt: Date, eligible: number, sendRatePerHour: number): Date {
  const durationMs = Math.ceil((eligible * HOUR) / sendRatePerHour);
  const startMs =
    durationMs <= 30 * MINUTE ? presaleAt.getTime() - HOUR : presaleAt.getTime() - 30 * MINUTE - durationMs;
  return new Date(startMs);
}

export function demoTimeline(o: TimelineOptions): Timeline {
  const local = new TZDate(o.now.getTime() + 2 * 24 * HOUR, DEMO_ZONE);
  const monday = nextMonday(local);
  const presaleAt = set(monday, { hours: 10, minutes: 30, seconds: 0, milliseconds: 0 });
  const planAt = set(monday, { hours: 0, minutes: 0, seconds: 0, milliseconds: 0 });
  const reminderEmailAt = new Date(planAt.getTime() - 15 * MINUTE);
  const simStart = new Date(planAt.getTime() - 30 * MINUTE);
  const notificationAt = expectedNotification(presaleAt, o.eligible, o.sendRatePerHour);
  const span = Math.max(HOUR, notificationAt.getTime() - simStart.getTime());
  const speed = o.speed ?? Math.max(1, Math.round(span / ((o.targetSeconds ?? 60) * 1000)));
  return {
    zone: DEMO_ZONE,
    presaleAt: new Date(presaleAt.getTime()),
    planAt: new Date(planAt.getTime()),
    reminderEmailAt,
    simStart,
    notificationAt,
    speed,
  };
}

/** The simulated clock spec shared by every process of the notification stage. */
export const clockSpec = (t: Timeline, anchorMs: number) =>
  `simulated:${t.simStart.toISOString()},speed=${t.speed},anchor=${anchorMs}`;

/** The real instant (epoch ms) at which the shared simulated clock reads `at`. */
export const realTimeOf = (t: Timeline, anchorMs: number, at: Date) =>
  anchorMs + (at.getTime() - t.simStart.getTime()) / t.speed;

/** An instant as the market's local wall time, e.g. "Mon 2026-11-30 09:30 PST". */
export const localTime = (at: Date, zone = DEMO_ZONE) => {
  const abbreviation =
    new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' })
      .formatToParts(at)
      .find((p) => p.type === 'timeZoneName')?.value ?? zone;
  return `${format(new TZDate(at.getTime(), zone), 'EEE yyyy-MM-dd HH:mm')} ${abbreviation}`;
};

/** ISO 8601 with the zone's offset at that instant (what a campaign file's presale.startsAt takes). */
export const localIso = (at: Date, zone = DEMO_ZONE) =>
  format(new TZDate(at.getTime(), zone), "yyyy-MM-dd'T'HH:mm:ssXXX");
