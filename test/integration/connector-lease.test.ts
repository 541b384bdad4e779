import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../lib/clients.ts';
import { RedisLease } from '../../lib/lease.ts';
import { config, uniqueName } from '../support.ts';

// The connector's leader lease on the real Redis.

const redis = createRedis(config.redis);
afterAll(async () => {
  await redis.quit();
});

describe('connector lease', () => {
  it('has one holder at a time, passes on when it expires, and hands out a growing fencing token', async () => {
    const key = `regflow-test:${uniqueName('lease')}`;
    const a = new RedisLease(redis, { key, holder: 'a', ttlMs: 600 });
    const b = new RedisLease(redis, { key, holder: 'b', ttlMs: 600 });
    const first = await a.tryAcquire();
    expect(first).toBeGreaterThan(0);
    expect(a.isHeld()).toBe(true);
    expect(await b.tryAcquire()).toBeNull();
    expect(await a.renew()).toBe(true);
    expect(await a.holder()).toBe('a');

    // a stops renewing (crashed or paused): b gets the lease after the TTL, with a larger token.
    await new Promise((r) => setTimeout(r, 700));
    expect(a.isHeld()).toBe(false);
    const second = await b.tryAcquire();
    expect(second).toBe(first! + 1);
    // The old holder cannot renew or release what is no longer its own.
    expect(await a.renew()).toBe(false);
    await a.release();
    expect(await b.holder()).toBe('b');
    await b.release();
    expect(await b.holder()).toBeNull();
    await redis.del(`${key}:token`);
  });
});
