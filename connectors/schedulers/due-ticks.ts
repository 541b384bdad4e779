import { type CronSchedule, NEXT_HORIZON_MS, tickIdOf } from './schedules.ts';

// Which ticks the leader fires now: pure, from the last fired tick of each schedule and the clock.
//
//   running     every tick in (last fired, now], in order: each one fires, once.
//   catch-up    at start (a new leader after downtime or a failover) the same, bounded: at most
//               `catchUpMax` ticks per schedule, the most recent ones; older missed ticks are not
//               fired, and the oldest fired one says how many it skipped (`skippedBefore`). Every
//               job here works from "now" (plan the next 27 h, poll what is due, export what is
//               due), so a burst of stale runs would add nothing but load.
//   first start no history for a schedule: only its latest tick at or before now fires (a new
//               deployment runs each job once right away), nothing before it was ever due to us.
// The look-back is capped (7 days) so a long outage costs a bounded scan.

export interface DueTick {
  tickId: string;
  schedule: string;
  scheduledAtMs: number;
  catchUp: boolean;
  skippedBefore: number;
}

/** Schedule name → scheduled instant (ms) of its last fired tick. */
export type FiredState = Record<string, number>;

export interface DueOptions {
  /** True for the evaluation a leader makes when it takes over. */
  startUp: boolean;
  catchUpMax: number;
  lookBackMs?: number;
}

export const DEFAULT_LOOK_BACK_MS = 7 * 24 * 3_600_000;

export function dueTicks(
  schedules: readonly CronSchedule[],
  state: Readonly<FiredState>,
  nowMs: number,
  options: DueOptions,
): DueTick[] {
  const horizon = nowMs - (options.lookBackMs ?? DEFAULT_LOOK_BACK_MS);
  const due: DueTick[] = [];
  for (const schedule of schedules) {
    const last = state[schedule.name];
    // Without history only the latest tick matters, and every schedule ticks at least daily.
    const from = last ?? nowMs - NEXT_HORIZON_MS;
    let ticks = schedule.ticksBetween(Math.max(from, horizon), nowMs);
    let skipped = 0;
    if (last === undefined) ticks = ticks.slice(-1);
    else if (options.startUp && ticks.length > options.catchUpMax) {
      skipped = ticks.length - options.catchUpMax;
      ticks = ticks.slice(skipped);
    }
    ticks.forEach((scheduledAtMs, i) => {
      due.push({
        tickId: tickIdOf(schedule.name, scheduledAtMs),
        schedule: schedule.name,
        scheduledAtMs,
        catchUp: options.startUp,
        skippedBefore: i === 0 ? skipped : 0,
      });
    });
  }
  return due.sort((a, b) => a.scheduledAtMs - b.scheduledAtMs || (a.schedule < b.schedule ? -1 : 1));
}

/** The state after firing `ticks`. */
export function advanceState(state: Readonly<FiredState>, ticks: readonly DueTick[]): FiredState {
  const next: FiredState = { ...state };
  for (const t of ticks) next[t.schedule] = Math.max(next[t.schedule] ?? 0, t.scheduledAtMs);
  return next;
}

/** The first scheduled instant after now across the schedules. */
export function nextTickAfter(schedules: readonly CronSchedule[], nowMs: number): number {
  return Math.min(...schedules.map((s) => s.nextAfter(nowMs)));
}
