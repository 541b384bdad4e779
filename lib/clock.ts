import { ValidationError } from './errors.ts';

// The one clock. Every time decision (what is due, what is "now" for a rule) reads a Clock, so
// tests and the demo can run a whole day in seconds. Waiting goes through the clock too:
// `sleepUntil` wakes when the clock's own time reaches the instant, whatever its speed.

export interface Clock {
  now(): Date;
  /** Resolves once now() >= at; rejects with the signal's reason when it aborts. */
  sleepUntil(at: Date, signal?: AbortSignal): Promise<void>;
}

// Real timers are re-armed at most this far ahead, so a clock that jumps (NTP, suspend) or a
// simulated clock that is advanced by hand is noticed within a second.
const MAX_REAL_WAIT_MS = 1_000;

/** Real time. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleepUntil: (at, signal) => waitUntil(() => Date.now(), at.getTime(), 1, signal),
};

export interface SimulatedClockOptions {
  /** Simulated milliseconds per real millisecond; 0 (default) = time moves only through advance(). */
  speed?: number;
  /**
   * The real instant (epoch ms) at which the clock reads `start`. Processes given the same start,
   * speed and anchor share one simulated time line. Default: when the clock is created.
   */
  anchorMs?: number;
  realNow?: () => number;
}

/**
 * Simulated time: starts at `start`, moves at `speed` times real time, and can be advanced by
 * hand (`advance`, `set`). 1,440 runs a day in a minute.
 */
export class SimulatedClock implements Clock {
  private readonly startMs: number;
  private readonly speed: number;
  private readonly anchorMs: number;
  private readonly realNow: () => number;
  private offsetMs = 0;
  private readonly waiters = new Set<() => void>();

  constructor(start: Date, options: SimulatedClockOptions = {}) {
    if (Number.isNaN(start.getTime())) throw new ValidationError('clock start', 'not a valid instant');
    const speed = options.speed ?? 0;
    if (!Number.isFinite(speed) || speed < 0)
      throw new ValidationError('clock speed', `expected a number >= 0 (got ${speed})`);
    this.startMs = start.getTime();
    this.speed = speed;
    this.realNow = options.realNow ?? Date.now;
    this.anchorMs = options.anchorMs ?? this.realNow();
  }

  /** What defines this clock's time line: processes with the same three share it. */
  get timeline(): { startMs: number; speed: number; anchorMs: number } {
    return { startMs: this.startMs, speed: this.speed, anchorMs: this.anchorMs };
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  /** Moves simulated time forward by `ms` and wakes every sleeper whose instant has come. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new ValidationError('advance', `expected ms >= 0 (got ${ms})`);
    this.offsetMs += ms;
    for (const wake of [...this.waiters]) wake();
  }

  /** Moves simulated time forward to `at` (never backwards). */
  set(at: Date): void {
    this.advance(Math.max(0, at.getTime() - this.nowMs()));
  }

  sleepUntil(at: Date, signal?: AbortSignal): Promise<void> {
    return waitUntil(() => this.nowMs(), at.getTime(), this.speed, signal, this.waiters);
  }

  private nowMs(): number {
    return this.startMs + (this.realNow() - this.anchorMs) * this.speed + this.offsetMs;
  }
}

function waitUntil(
  nowMs: () => number,
  atMs: number,
  speed: number,
  signal: AbortSignal | undefined,
  waiters?: Set<() => void>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: unknown) => {
      clearTimeout(timer);
      waiters?.delete(check);
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
    const check = () => {
      const remaining = atMs - nowMs();
      if (remaining <= 0) return finish();
      clearTimeout(timer);
      if (speed > 0) timer = setTimeout(check, Math.min(MAX_REAL_WAIT_MS, Math.ceil(remaining / speed)));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    waiters?.add(check);
    check();
  });
}

/**
 * Parses a clock spec, as given on the command line: `system`, or
 * `simulated:<ISO start>[,speed=<n>][,anchor=<epoch ms>]`.
 */
export function parseClock(spec: string, field = '--clock'): Clock {
  if (spec === 'system') return systemClock;
  const match = /^simulated:([^,]+)((?:,[a-z]+=[^,]+)*)$/.exec(spec);
  if (!match)
    throw new ValidationError(field, `expected "system" or "simulated:<ISO start>[,speed=N][,anchor=MS]"`);
  const start = new Date(match[1]!);
  if (Number.isNaN(start.getTime()))
    throw new ValidationError(field, `start ${match[1]} is not an ISO instant`);
  const options: SimulatedClockOptions = {};
  for (const pair of (match[2] ?? '').split(',').filter(Boolean)) {
    const [name, raw] = pair.split('=') as [string, string];
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new ValidationError(field, `${name}=${raw} is not a number`);
    if (name === 'speed') options.speed = value;
    else if (name === 'anchor') options.anchorMs = value;
    else throw new ValidationError(field, `unknown option ${name} (known: speed, anchor)`);
  }
  return new SimulatedClock(start, options);
}
