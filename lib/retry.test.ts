import { describe, expect, it } from 'vitest';
import { PermanentError, RetriableError } from './errors.ts';
import { backoffDelay, createRetry, DEFAULT_RETRY } from './retry.ts';

const fast = { initialDelayMs: 1, maxDelayMs: 4, jitter: 0 };

describe('createRetry', () => {
  it('retries a retriable error and reports the attempt that succeeded', async () => {
    let calls = 0;
    const outcome = await createRetry({ ...fast, attempts: 3 })(async () => {
      calls++;
      if (calls < 3) throw new RetriableError('timeout');
      return 'ok';
    });
    expect(outcome).toEqual({ value: 'ok', attempts: 3 });
  });

  it('stops after the configured attempts and tags the error with them', async () => {
    let calls = 0;
    const error = await createRetry({ ...fast, attempts: 3 })(async () => {
      calls++;
      throw new RetriableError('still down');
    }).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(error).toBeInstanceOf(RetriableError);
    expect((error as { attempts: number }).attempts).toBe(3);
  });

  it('never retries a permanent error', async () => {
    let calls = 0;
    await expect(
      createRetry({ ...fast, attempts: 5 })(async () => {
        calls++;
        throw new PermanentError('bad input');
      }),
    ).rejects.toThrow('bad input');
    expect(calls).toBe(1);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially and is capped', () => {
    const opts = { ...DEFAULT_RETRY, initialDelayMs: 100, maxDelayMs: 1_000, factor: 2, jitter: 0 };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(opts, a))).toEqual([100, 200, 400, 800, 1_000]);
  });

  it('draws jitter from the lower part of the window', () => {
    const opts = { ...DEFAULT_RETRY, initialDelayMs: 100, factor: 2, jitter: 0.5 };
    expect(backoffDelay(opts, 2, () => 0)).toBe(100);
    expect(backoffDelay(opts, 2, () => 1)).toBe(200);
  });
});
