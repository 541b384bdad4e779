import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMongo } from '../../lib/clients.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { MongoEntryStore } from '../../stores/entries.ts';
import { MongoScoringStore } from '../../stores/scoring.ts';
import { MongoUserStore } from '../../stores/users.ts';
import { storeContract } from '../contracts/stores.ts';
import { config, uniqueName } from '../support.ts';

// The stores on FerretDB (MongoDB wire protocol), in a database of their own.

const client = createMongo(config.mongodb);
let db: Db;

beforeAll(async () => {
  await client.connect();
  db = client.db(uniqueName('stores').replace(/-/g, '_'));
});

afterAll(async () => {
  await db.dropDatabase().catch(() => {});
  await client.close();
});

storeContract('MongoDB', {
  campaigns: () => new MongoCampaignStore(db),
  entries: () => new MongoEntryStore(db),
  users: () => new MongoUserStore(db),
  scoring: () => new MongoScoringStore(db),
});

describe('scoring store (MongoDB): dropped markets', () => {
  it('removes the rows of every market the fan left, also across versions never applied, by _id', async () => {
    const store = new MongoScoringStore(db);
    await store.init();
    const rows = (markets: string[]) => markets.map((marketId) => ({ marketId, locale: 'en-US' }));
    const marketsOf = async (fan: string) =>
      (await db.collection('scoring_rows').find({ campaignId: 'c9', globalUserId: fan }).toArray())
        .map((r) => r.marketId as string)
        .sort();
    await store.replaceFanRows('c9', 'fan-x', 10, rows(['A', 'B']));
    // Version 20 ([C]) was never applied here (stale before it was replicated); 30 picks D.
    expect((await store.replaceFanRows('c9', 'fan-x', 30, rows(['D']))).removed).toBe(2);
    expect(await marketsOf('fan-x')).toEqual(['D']);
    // Applied again (a replay), the same change is a no-op; a withdrawal removes what is left.
    await store.replaceFanRows('c9', 'fan-x', 30, rows(['D']));
    expect(await marketsOf('fan-x')).toEqual(['D']);
    expect(await store.deleteFanRows('c9', 'fan-x', 30)).toBe(1);
    expect(await marketsOf('fan-x')).toEqual([]);
    // A marker from before markets were listed: the fan's rows are found by query instead.
    await db.collection('scoring_rows').insertOne({
      _id: 'c9:Z:fan-y',
      campaignId: 'c9',
      marketId: 'Z',
      globalUserId: 'fan-y',
      locale: 'en-US',
      entryVersion: 5,
    } as never);
    await db.collection('scoring_fans').insertOne({ _id: 'c9:fan-y', order: 10 } as never);
    await store.replaceFanRows('c9', 'fan-y', 6, rows(['A']));
    expect(await marketsOf('fan-y')).toEqual(['A']);
  });
});
