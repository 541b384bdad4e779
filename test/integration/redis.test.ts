import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../lib/clients.ts';
import { config, uniqueName } from '../support.ts';

const redis = createRedis(config.redis);

afterAll(() => redis.quit());

describe('Redis', () => {
  it('sets, gets and expires a key', async () => {
    const key = uniqueName('smoke:campaign');
    expect(await redis.set(key, JSON.stringify({ status: 'ACTIVE' }), 'PX', 300)).toBe('OK');
    expect(JSON.parse((await redis.get(key)) ?? 'null')).toEqual({ status: 'ACTIVE' });
    expect(await redis.pttl(key)).toBeGreaterThan(0);
    await sleep(450);
    expect(await redis.get(key)).toBeNull();
  });
});
