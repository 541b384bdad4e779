import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable, RetriableError } from './errors.ts';

// The one retry helper: `createRetry(options)(fn)`, exponential backoff with full jitter.
// Retriability is a property of the error (see errors.ts), never decided here.

export interface RetryOptions {
  /** Total attempts, including the first. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** 0 = no jitter, 1 = full jitter (delay drawn from [0, backoff]). */
  jitter: number;
  shouldRetry?: (err: unknown) => boolean;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  signal?: AbortSignal;
  random?: () => number;
}

export const DEFAULT_RETRY: RetryOptions = Object.freeze({
  attempts: 3,
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  factor: 2,
  jitter: 0.5,
});

/** Delay before attempt `attempt + 1` (attempt is 1-based). */
export function backoffDelay(options: RetryOptions, attempt: number, random = Math.random): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** (attempt - 1));
  const jitter = Math.max(0, Math.min(1, options.jitter));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}

export interface RetryOutcome<T> {
  value: T;
  attempts: number;
}

export type Retry = (<T>(
  fn: (attempt: number) => Promise<T>,
  call?: Pick<RetryOptions, 'onRetry'>,
) => Promise<RetryOutcome<T>>) & {
  /**
   * The same, when the caller made attempt 1 itself (a hot path that cannot afford a closure per
   * call when almost every call succeeds at once) and it failed with `error`: decides whether to
   * retry, waits, and goes on from attempt 2.
   */
  after<T>(
    error: unknown,
    fn: (attempt: number) => Promise<T>,
    call?: Pick<RetryOptions, 'onRetry'>,
  ): Promise<RetryOutcome<T>>;
};

export function createRetry(partial: Partial<RetryOptions> = {}): Retry {
  const options: RetryOptions = { ...DEFAULT_RETRY, ...partial };
  const shouldRetry = options.shouldRetry ?? isRetriable;
  async function from<T>(
    attempt: number,
    failed: { error: unknown } | null,
    fn: (attempt: number) => Promise<T>,
    call: Pick<RetryOptions, 'onRetry'>,
  ): Promise<RetryOutcome<T>> {
    const onRetry = call.onRetry ?? options.onRetry;
    let last = failed;
    for (;;) {
      if (last === null) {
        try {
          return { value: await fn(attempt), attempts: attempt };
        } catch (error) {
          last = { error };
        }
      }
      const { error } = last;
      if (attempt >= options.attempts || !shouldRetry(error)) {
        if (attempt > 1 && error !== null && typeof error === 'object')
          (error as { attempts?: number }).attempts = attempt;
        throw error;
      }
      const delayMs = backoffDelay(options, attempt, options.random);
      onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : undefined);
      attempt++;
      last = null;
    }
  }
  const retry = (<T>(fn: (attempt: number) => Promise<T>, call: Pick<RetryOptions, 'onRetry'> = {}) =>
    from(1, null, fn, call)) as Retry;
  retry.after = (error, fn, call = {}) => from(1, { error }, fn, call);
  return retry;
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it succeeded. */
export async function waitFor(
  check: () => Promise<boolean>,
  { timeoutMs, intervalMs = 250 }: { timeoutMs: number; intervalMs?: number },
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return true;
    } catch {
      // not ready yet
    }
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/**
 * Settles like `promise`, or rejects with a RetriableError naming `what` after `ms`: a call that
 * never answers (a hung socket to a store) must fail and be retried, never block its partition. The
 * call itself is not cancelled: use it for idempotent effects (or pass an AbortSignal as well).
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RetriableError(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
