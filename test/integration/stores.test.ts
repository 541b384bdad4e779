import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Campaign } from '../../campaigns/campaign.ts';
import { createMongo } from '../../lib/clients.ts';
import type { DataRecord } from '../../lib/data-records.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { type EntryRecord, MongoEntryStore } from '../../stores/entries.ts';
import { MongoScoringStore } from '../../stores/scoring.ts';
import { MongoUserStore } from '../../stores/users.ts';
import { config, uniqueName } from '../support.ts';

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

const entry = (globalUserId: string, version: number, markets: string[]): EntryRecord => ({
  campaignId: 'c1',
  globalUserId,
  email: `${globalUserId}@example.com`,
  phone: '+12125550100',
  locale: 'en-US',
  markets,
  marketing: { emailOptIn: true, smsOptIn: false },
  version,
  createdAt: '2027-01-01T00:00:00.000Z',
  date: { updated: new Date(version).toISOString(), fanModified: new Date(version).toISOString() },
});

describe('entry store (MongoDB)', () => {
  it('never goes backwards: an older change after a newer one changes nothing', async () => {
    const store = new MongoEntryStore(db);
    await store.init();
    await store.init(); // indexes are created idempotently

    expect(await store.upsertEntries('c1', [entry('fan-1', 2000, ['A', 'C'])])).toEqual({
      applied: ['fan-1'],
      stale: [],
    });
    expect(await store.upsertEntries('c1', [entry('fan-1', 1000, ['A', 'B'])])).toEqual({
      applied: [],
      stale: ['fan-1'],
    });
    // a replay of the same version is stale too
    expect((await store.upsertEntries('c1', [entry('fan-1', 2000, ['A', 'C'])])).stale).toEqual(['fan-1']);
    expect((await store.getEntry('c1', 'fan-1'))?.markets).toEqual(['A', 'C']);
  });

  it('deletes with a tombstone, so a late older upsert cannot bring the entry back', async () => {
    const store = new MongoEntryStore(db);
    await store.upsertEntries('c1', [entry('fan-2', 1000, ['A']), entry('fan-3', 1000, ['A'])]);
    expect(await store.deleteEntries('c1', [{ globalUserId: 'fan-2', version: 1000 }])).toEqual({
      applied: ['fan-2'],
      stale: [],
    });
    expect(await store.getEntry('c1', 'fan-2')).toBeUndefined();
    expect((await store.upsertEntries('c1', [entry('fan-2', 900, ['B'])])).stale).toEqual(['fan-2']);
    expect(await store.getEntry('c1', 'fan-2')).toBeUndefined();
    // a deletion older than the stored entry is stale
    expect((await store.deleteEntries('c1', [{ globalUserId: 'fan-3', version: 500 }])).stale).toEqual([
      'fan-3',
    ]);
    // re-registering later (newer version) works
    expect((await store.upsertEntries('c1', [entry('fan-2', 3000, ['C'])])).applied).toEqual(['fan-2']);
    expect((await store.getEntry('c1', 'fan-2'))?.markets).toEqual(['C']);
  });

  it('refuses more than 25 entries in one call and entries of another campaign', async () => {
    const store = new MongoEntryStore(db);
    const many = Array.from({ length: 26 }, (_, i) => entry(`bulk-${i}`, 1, ['A']));
    await expect(store.upsertEntries('c1', many)).rejects.toThrow(/entries: at most 25/);
    await expect(store.upsertEntries('c2', [entry('x', 1, ['A'])])).rejects.toThrow(
      /entries\[0\]\.campaignId: belongs to c1/,
    );
    const batch = many.slice(0, 25);
    expect((await store.upsertEntries('c1', batch)).applied).toHaveLength(25);
  });
});

describe('user store (MongoDB)', () => {
  it('keeps the newest profile of a fan', async () => {
    const store = new MongoUserStore(db);
    await store.init();
    const user = (version: number, firstName: string) => ({
      globalUserId: 'fan-9',
      email: 'f9@example.com',
      firstName,
      version,
      updatedAt: new Date(version).toISOString(),
    });
    const r = await store.upsertUsers([user(2, 'New'), user(1, 'Old')]);
    expect(r.applied).toEqual(['fan-9']);
    expect(r.stale).toEqual(['fan-9']);
    expect((await store.upsertUsers([user(1, 'Older')])).stale).toEqual(['fan-9']);
    expect((await store.getUser('fan-9'))?.firstName).toBe('New');
  });
});

describe('scoring store (MongoDB)', () => {
  it('keeps one row per (campaign, market, fan), drops markets the fan left, never goes backwards', async () => {
    const store = new MongoScoringStore(db);
    await store.init();
    await store.init();
    const rows = (markets: string[]) =>
      markets.map((marketId) => ({ marketId, locale: 'en-US', phone: '+1' }));
    await store.replaceFanRows('c1', 'fan-1', 10, rows(['A', 'B']));
    expect(await store.replaceFanRows('c1', 'fan-1', 20, rows(['A', 'C']))).toEqual({
      upserted: 2,
      stale: 0,
      removed: 1,
    });
    // the older change arriving late changes nothing
    const late = await store.replaceFanRows('c1', 'fan-1', 10, rows(['A', 'B']));
    expect(late.upserted).toBe(0);
    const markets = async () =>
      (await Promise.all(['A', 'B', 'C'].map((m) => store.listRows('c1', m))))
        .flat()
        .map((r) => r.marketId)
        .sort();
    expect(await markets()).toEqual(['A', 'C']);

    expect(
      await store.recordSelection('c1', 'A', 'run-1', [{ globalUserId: 'fan-1', verdict: true, code: 'X' }]),
    ).toBe(1);
    // another run cannot overwrite a decided row; the same run may repeat (idempotent)
    expect(await store.recordSelection('c1', 'A', 'run-2', [{ globalUserId: 'fan-1', verdict: false }])).toBe(
      0,
    );
    expect(
      await store.recordSelection('c1', 'A', 'run-1', [{ globalUserId: 'fan-1', verdict: true, code: 'X' }]),
    ).toBe(1);
    // a later entry version keeps selection's fields
    await store.replaceFanRows('c1', 'fan-1', 30, rows(['A']));
    expect(await store.listRows('c1', 'A')).toMatchObject([
      { globalUserId: 'fan-1', verdict: true, code: 'X', selectedRunId: 'run-1', entryVersion: 30 },
    ]);
    expect(await store.listRows('c1', 'A', { unselectedOnly: true })).toEqual([]);
    expect(await store.deleteFanRows('c1', 'fan-1', 30)).toBe(1);
    expect(await markets()).toEqual([]);
    // the write of the withdrawn version, replayed after the withdrawal, brings nothing back
    expect((await store.replaceFanRows('c1', 'fan-1', 30, rows(['A']))).upserted).toBe(0);
    expect(await markets()).toEqual([]);
  });
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

describe('campaign store (MongoDB)', () => {
  const campaign = (version: number): Campaign => ({
    id: 'camp-1',
    name: 'Camp',
    status: 'DRAFT',
    gate: { inviteOnly: true, idvRequired: false },
    fields: { required: ['email'] },
    markets: [],
    version,
    inviteCount: 0,
    date: { created: '2027-01-01T00:00:00Z', updated: new Date(version * 1000).toISOString() },
  });
  const record = (id: string): DataRecord => ({
    type: 'CAMPAIGN',
    data: { id },
    occurredAt: '2027-01-01T00:00:00Z',
    source: 'test',
    sourceRecordId: id,
  });

  it('writes a change and its outbox records in one document, with compare-and-set versions', async () => {
    const store = new MongoCampaignStore(db);
    await store.init();
    expect(await store.create(campaign(1), [record('r1')])).toBe(true);
    expect(await store.create(campaign(1), [record('r1')])).toBe(false);
    expect(await store.update(campaign(2), 1, [record('r2')])).toBe(true);
    expect(await store.update(campaign(3), 1, [record('r3')])).toBe(false);
    const [pending] = await store.pendingOutbox(10);
    expect(pending?.records.map((r) => r.sourceRecordId)).toEqual(['r1', 'r2']);
    await store.removeFromOutbox('camp-1', ['r1']);
    expect((await store.pendingOutbox(10))[0]?.records.map((r) => r.sourceRecordId)).toEqual(['r2']);
    await store.removeFromOutbox('camp-1', ['r2']);
    expect(await store.pendingOutbox(10)).toEqual([]);
    expect((await store.get('camp-1'))?.version).toBe(2);
  });

  it('imports invites idempotently', async () => {
    const store = new MongoCampaignStore(db);
    expect(await store.addInvites('camp-1', ['a@x.com', 'b@x.com', 'a@x.com'])).toBe(2);
    expect(await store.addInvites('camp-1', ['b@x.com', 'c@x.com'])).toBe(1);
    expect(await store.countInvites('camp-1')).toBe(3);
    expect((await store.listInvites('camp-1')).sort()).toEqual(['a@x.com', 'b@x.com', 'c@x.com']);
  });
});
