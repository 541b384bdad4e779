import cron, { type ScheduledTask } from 'node-cron';
import { ValidationError } from '../../lib/errors.ts';

// The schedules (spec Use Case 4: "daily at midnight PT", "every 5 minutes", "every 15 minutes")
// and their ticks. node-cron parses the expressions and decides, instant by instant, whether an
// instant matches in the schedule's time zone (`match`, which converts the instant to local time
// through Intl and is right on every night). Which instants are due is computed here, by walking
// whole minutes between two instants of the injected clock, and never by node-cron's own runner:
// (1) the runner reads the system clock, so a simulated day could not be run through it, and
// (2) node-cron 4.6's next-run search walks local wall-clock fields, so on a fall-back night it
// goes from 01:55 PDT straight to 02:00 PST and skips the twelve 5-minute ticks of the repeated
// hour (checked: from 2026-11-01T08:40Z it yields 08:45, 08:50, 08:55, 10:00 UTC).
// A tick's identity is the schedule's name and the scheduled instant in UTC, so every replica,
// however late it looks, names the same tick the same way.

export const SCHEDULER_TIMEZONE = 'America/Los_Angeles';

export interface ScheduleSpec {
  name: string;
  /** Five-field cron expression (minute resolution), read in `timezone`. */
  cron: string;
  timezone: string;
  description: string;
}

export const SCHEDULES: readonly ScheduleSpec[] = [
  {
    name: 'plan-sends',
    cron: '0 0 * * *',
    timezone: SCHEDULER_TIMEZONE,
    description: 'daily at midnight Pacific: plan the notification time of the presales 2-27 h ahead',
  },
  {
    name: 'markets-to-notify',
    cron: '*/5 * * * *',
    timezone: SCHEDULER_TIMEZONE,
    description: 'every 5 minutes: request notifications for markets now due, clean up past presales',
  },
  {
    name: 'reminder-emails',
    cron: '*/15 * * * *',
    timezone: SCHEDULER_TIMEZONE,
    description: 'every 15 minutes: export the email reminders of campaigns now due',
  },
];

const MINUTE_MS = 60_000;
/** How far `nextAfter` looks: longer than any day, DST included. */
export const NEXT_HORIZON_MS = 26 * 3_600_000;

export const tickIdOf = (schedule: string, scheduledAtMs: number) =>
  `${schedule}@${new Date(scheduledAtMs).toISOString()}`;

export class CronSchedule {
  readonly spec: ScheduleSpec;
  private readonly task: ScheduledTask;
  private lastNext: { from: number; next: number } | undefined;

  constructor(spec: ScheduleSpec) {
    if (!cron.validate(spec.cron) || spec.cron.trim().split(/\s+/).length !== 5)
      throw new ValidationError(
        `schedule ${spec.name}: cron`,
        `expected a 5-field expression (got "${spec.cron}")`,
      );
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: spec.timezone });
    } catch {
      throw new ValidationError(
        `schedule ${spec.name}: timezone`,
        `"${spec.timezone}" is not an IANA time zone`,
      );
    }
    this.spec = spec;
    // A task that is never started: only its matcher is used (no timer, nothing keeps the process up).
    this.task = cron.createTask(spec.cron, () => {}, {
      timezone: spec.timezone,
      name: `regflow-${spec.name}`,
    });
  }

  get name(): string {
    return this.spec.name;
  }

  matches(atMs: number): boolean {
    return atMs % MINUTE_MS === 0 && this.task.match(new Date(atMs));
  }

  /** Scheduled instants in (afterMs, upToMs], ascending. */
  ticksBetween(afterMs: number, upToMs: number): number[] {
    const ticks: number[] = [];
    for (let t = Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS; t <= upToMs; t += MINUTE_MS) {
      if (this.matches(t)) ticks.push(t);
    }
    return ticks;
  }

  /** The first scheduled instant after `afterMs`. */
  nextAfter(afterMs: number): number {
    // The loop asks again and again with a growing afterMs: nothing matches in (from, next), so the
    // answer stays `next` until afterMs reaches it (a daily scan is ~1,400 Intl conversions).
    const cached = this.lastNext;
    if (cached && cached.from <= afterMs && afterMs < cached.next) return cached.next;
    const limit = afterMs + NEXT_HORIZON_MS;
    for (let t = Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS; t <= limit; t += MINUTE_MS) {
      if (this.matches(t)) {
        this.lastNext = { from: afterMs, next: t };
        return t;
      }
    }
    throw new ValidationError(
      `schedule ${this.name}`,
      'no tick within 26 hours (only daily or shorter periods are supported)',
    );
  }

  /** Drops the node-cron task from node-cron's registry. */
  dispose(): void {
    void this.task.destroy();
  }
}
