import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CampaignCache } from '../../campaigns/cache.ts';
import { CampaignService } from '../../campaigns/service.ts';
import { createRedis } from '../../lib/clients.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { validDefinition } from '../fixtures/campaigns.ts';
import { config, uniqueName } from '../support.ts';

// The campaign cache on the real Redis and FerretDB: versions only go up, absent campaigns are
// cached briefly and replaced as soon as the campaign exists.

const mongo = new MongoClient(config.mongodb.url);
const redis = createRedis(config.redis);
const prefix = `${uniqueName('cache')}:`;
let db: Db;

beforeAll(async () => {
  await mongo.connect();
  db = mongo.db(uniqueName('cache').replace(/-/g, '_'));
});

afterAll(async () => {
  await db.dropDatabase().catch(() => {});
  await mongo.close();
  redis.disconnect();
});

describe('campaign cache (Redis + FerretDB)', () => {
  it('never lets a slow refill with an old version overwrite a newer one', async () => {
    const store = new MongoCampaignStore(db);
    await store.init();
    const service = new CampaignService({ store });
    await service.apply({ ...validDefinition(), id: 'race' });
    const v1 = await store.get('race');

    // A reader loaded v1 from MongoDB, then stalls; meanwhile a writer closes the campaign.
    const slowStore = {
      ...store,
      get: async () => v1,
      listInvites: async () => [],
    } as unknown as MongoCampaignStore;
    const slowReader = new CampaignCache(redis, slowStore, { prefix });
    const writerCache = new CampaignCache(redis, store, { prefix });
    await new CampaignService({ store, cache: writerCache }).setStatus('race', 'CLOSED');
    expect(await redis.hget(writerCache.key('race'), 'v')).toBe('2');

    await slowReader.refresh('race'); // tries to write v1
    expect(await redis.hget(writerCache.key('race'), 'v')).toBe('2');
    const fresh = new CampaignCache(redis, store, { prefix });
    expect((await fresh.get('race'))?.campaign.status).toBe('CLOSED');
  });

  it('caches an absent campaign briefly and replaces it when the campaign is created', async () => {
    const store = new MongoCampaignStore(db);
    const cache = new CampaignCache(redis, store, { prefix, absentTtlMs: 30_000 });
    expect(await cache.get('later')).toBeUndefined();
    expect(await redis.hget(cache.key('later'), 'v')).toBe('0');
    const ttl = await redis.pttl(cache.key('later'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);

    await new CampaignService({ store, cache }).apply({ ...validDefinition(), id: 'later' });
    const other = new CampaignCache(redis, store, { prefix });
    expect((await other.get('later'))?.campaign.version).toBe(1);
    expect((await cache.get('later'))?.campaign.id).toBe('later');
  });

  it('serves many concurrent requests of one campaign with one version read', async () => {
    const store = new MongoCampaignStore(db);
    await new CampaignService({ store }).apply({ ...validDefinition(), id: 'busy' });
    const cache = new CampaignCache(redis, store, { prefix });
    await cache.get('busy');
    let reads = 0;
    const counting = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop === 'hget') reads++;
        return Reflect.get(target, prop, receiver);
      },
    });
    const shared = new CampaignCache(counting, store, { prefix });
    await shared.get('busy');
    reads = 0;
    const all = await Promise.all(Array.from({ length: 50 }, () => shared.get('busy')));
    expect(all.every((c) => c?.campaign.id === 'busy')).toBe(true);
    expect(reads).toBe(1);
  });
});
