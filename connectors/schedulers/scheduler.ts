import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Clock } from '../../lib/clock.ts';
import { describeError } from '../../lib/errors.ts';
import type { SchedulerTick } from '../../schemas/types.generated.ts';
import { advanceState, type DueTick, dueTicks, type FiredState, nextTickAfter } from './due-ticks.ts';
import type { CronSchedule } from './schedules.ts';

// One scheduler replica: waits for the lease; as leader, fences the tick log and reads its state,
// fires the missed ticks (bounded catch-up), then sleeps on the injected clock until the next tick
// and fires it, until it stops or loses the lease (or the log refuses a commit: fenced). Time
// decisions read `clock`; the lease lives in real time (Redis TTLs).

/** The leader lease (lib/lease.ts over Redis; an in-memory one in unit tests). */
export interface Lease {
  readonly ttlMs: number;
  /** The fencing token when acquired, else null. */
  tryAcquire(): Promise<number | null>;
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

export interface TickLogPort {
  append(ticks: readonly SchedulerTick[], state: FiredState): Promise<void>;
  close(): Promise<void>;
}

export interface SchedulerDeps {
  schedules: readonly CronSchedule[];
  clock: Clock;
  lease: Lease;
  openTickLog: () => Promise<{ log: TickLogPort; state: FiredState }>;
  replicaId: string;
  logger: Logger;
  /** Most missed ticks per schedule fired when a leader starts. */
  catchUpMax: number;
  /** Called after each committed transaction (tests, metrics). */
  onFired?: (ticks: readonly SchedulerTick[]) => void;
}

export interface RunningScheduler {
  /** Finishes the transaction in hand, releases the lease, resolves `done`. */
  stop(): Promise<void>;
  done: Promise<void>;
  isLeader(): boolean;
}

export function startScheduler(deps: SchedulerDeps): RunningScheduler {
  const { lease, logger, clock, schedules } = deps;
  const stopping = new AbortController();
  const pollMs = Math.max(50, Math.floor(lease.ttlMs / 3));
  let leading = false;

  const toRecord = (t: DueTick, firedAt: number, epoch: number): SchedulerTick => {
    const spec = schedules.find((s) => s.name === t.schedule)!.spec;
    return {
      tickId: t.tickId,
      schedule: t.schedule,
      cron: spec.cron,
      timezone: spec.timezone,
      scheduledAt: t.scheduledAtMs,
      firedAt,
      catchUp: t.catchUp,
      skippedBefore: t.skippedBefore,
      leaderEpoch: epoch,
      firedBy: deps.replicaId,
    };
  };

  async function lead(epoch: number): Promise<void> {
    const lost = new AbortController();
    const onStop = () => lost.abort(new Error('stopping'));
    stopping.signal.addEventListener('abort', onStop, { once: true });
    const renewal = setInterval(() => {
      lease.renew().then(
        (ok) => {
          if (!ok) lost.abort(new Error('lease lost'));
        },
        (err: unknown) => lost.abort(new Error(`lease renewal failed: ${describeError(err)}`)),
      );
    }, pollMs);
    let log: TickLogPort | undefined;
    try {
      const opened = await deps.openTickLog();
      log = opened.log;
      let state = opened.state;
      leading = true;
      logger.info({ epoch, state: describeState(state) }, 'scheduler: leading; tick log fenced and read');
      const ahead = Object.entries(state).filter(([, at]) => at > clock.now().getTime());
      if (ahead.length > 0)
        logger.warn(
          { schedules: ahead.map(([name]) => name), state: describeState(state) },
          'scheduler: the last fired tick is ahead of this clock; those schedules fire again once the clock passes it',
        );
      let startUp = true;
      while (!lost.signal.aborted) {
        const now = clock.now().getTime();
        const due = dueTicks(schedules, state, now, { startUp, catchUpMax: deps.catchUpMax });
        startUp = false;
        if (due.length > 0) {
          const records = due.map((t) => toRecord(t, now, epoch));
          const next = advanceState(state, due);
          await log.append(records, next);
          state = next;
          for (const r of records) {
            logger.info(
              {
                tickId: r.tickId,
                schedule: r.schedule,
                catchUp: r.catchUp,
                skippedBefore: r.skippedBefore,
                epoch,
              },
              'scheduler: tick fired',
            );
          }
          deps.onFired?.(records);
        }
        await clock.sleepUntil(new Date(nextTickAfter(schedules, now)), lost.signal).catch(() => {});
      }
      logger.info({ epoch, reason: describeError(lost.signal.reason) }, 'scheduler: no longer leading');
    } finally {
      leading = false;
      clearInterval(renewal);
      stopping.signal.removeEventListener('abort', onStop);
      await log?.close();
    }
  }

  async function loop(): Promise<void> {
    logger.info(
      { schedules: schedules.map((s) => `${s.name} ${s.spec.cron} ${s.spec.timezone}`) },
      'scheduler: started',
    );
    while (!stopping.signal.aborted) {
      let epoch: number | null = null;
      try {
        epoch = await lease.tryAcquire();
        if (epoch !== null) await lead(epoch);
      } catch (err) {
        logger.warn(
          { err: describeError(err), epoch },
          'scheduler: leadership ended by an error; trying again',
        );
      } finally {
        if (epoch !== null) await lease.release().catch(() => {});
      }
      await sleep(pollMs, undefined, { signal: stopping.signal }).catch(() => {});
    }
    logger.info('scheduler: stopped');
  }

  const done = loop();
  return {
    stop: async () => {
      stopping.abort();
      await done;
    },
    done,
    isLeader: () => leading,
  };
}

const describeState = (state: FiredState) =>
  Object.fromEntries(Object.entries(state).map(([k, v]) => [k, new Date(v).toISOString()]));
