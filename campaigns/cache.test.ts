import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { MemoryCampaignStore } from '../stores/memory.ts';
import { validDefinition } from '../test/fixtures/campaigns.ts';
import { CampaignCache } from './cache.ts';
import { CampaignService } from './service.ts';

// The cache's fallbacks with a Redis that is down (the real-Redis paths are in
// test/integration/registration.test.ts and campaign-cache.test.ts).

const downRedis = {
  hget: async () => {
    throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  },
  hmget: async () => {
    throw new Error('down');
  },
  eval: async () => {
    throw new Error('down');
  },
} as unknown as Redis;

describe('campaign cache without Redis', () => {
  it('reads the store directly, invites included, and never fails the request', async () => {
    const store = new MemoryCampaignStore();
    const service = new CampaignService({ store });
    await service.apply({ ...validDefinition(), invites: ['vip@example.com'] });
    const cache = new CampaignCache(downRedis, store, { prefix: 't:' });
    const got = await cache.get('spring-tour');
    expect(got?.campaign.id).toBe('spring-tour');
    expect(got?.invites.has('vip@example.com')).toBe(true);
    expect(await cache.get('nope')).toBeUndefined();
    await expect(cache.refresh('spring-tour')).resolves.toBeUndefined();
  });
});
