import { type Collection, type Db, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMongo } from '../../lib/clients.ts';
import { config, uniqueName } from '../support.ts';

interface Entry {
  globalUserId: string;
  campaignId: string;
  phoneNumber?: string;
  verdict?: boolean;
  code?: { marketId: string; value: string };
}

const client = createMongo(config.mongodb);
let db: Db;
let entries: Collection<Entry>;

beforeAll(async () => {
  await client.connect();
  db = client.db(config.mongodb.database);
  entries = db.collection<Entry>(uniqueName('smoke_entries'));
});

afterAll(async () => {
  await entries.drop().catch(() => {});
  await client.close();
});

describe('MongoDB wire protocol (FerretDB)', () => {
  it('serves a lookup by _id from the _id index, alone or with other conditions (infra patches FerretDB 1.24.2, which scanned)', async () => {
    await entries.insertOne({ _id: 'by-id', globalUserId: 'i1', campaignId: 'c1' } as Entry);
    for (const filter of [{ _id: 'by-id' }, { _id: 'by-id', campaignId: { $ne: 'c2' } }]) {
      const explained = await db.command({ explain: { find: entries.collectionName, filter } });
      const plan = (explained.queryPlanner as { Plan?: string[] }).Plan;
      if (plan)
        // FerretDB answers with SQLite's EXPLAIN QUERY PLAN: SCAN before the patch, SEARCH … USING INDEX after.
        expect(plan.join('\n'), JSON.stringify(filter)).toMatch(/SEARCH \S+ USING INDEX \S+__id_ /);
      else expect(JSON.stringify(explained.queryPlanner)).toMatch(/IDHACK|EXPRESS|IXSCAN/);
    }
    // The rest of the filter still applies to what the index returns.
    expect(await entries.findOne({ _id: 'by-id', campaignId: 'c2' } as never)).toBeNull();
    expect(
      await entries.updateOne({ _id: 'by-id', campaignId: 'c2' } as never, { $set: { verdict: true } }),
    ).toMatchObject({ matchedCount: 0 });
    expect(
      await entries.updateOne({ _id: 'by-id', campaignId: 'c1' } as never, { $set: { verdict: true } }),
    ).toMatchObject({ matchedCount: 1 });
    expect(await entries.deleteOne({ _id: 'by-id', campaignId: 'c2' } as never)).toMatchObject({
      deletedCount: 0,
    });
    expect(await entries.deleteOne({ _id: 'by-id' } as never)).toMatchObject({ deletedCount: 1 });
  });

  it('inserts, finds with $regex and $exists, and unsets a field', async () => {
    await entries.insertMany([
      { globalUserId: 'u1', campaignId: 'c1', phoneNumber: '+12125550100', verdict: true },
      { globalUserId: 'u2', campaignId: 'c1', phoneNumber: '+447700900123', verdict: true },
      { globalUserId: 'u3', campaignId: 'c1' },
    ]);
    const us = await entries.find({ phoneNumber: { $regex: '^\\+1' } }).toArray();
    expect(us.map((e) => e.globalUserId)).toEqual(['u1']);
    expect(await entries.countDocuments({ verdict: { $exists: false } })).toBe(1);

    await entries.updateOne({ globalUserId: 'u1' }, { $unset: { phoneNumber: '' } });
    const u1 = await entries.findOne({ globalUserId: 'u1' });
    expect(u1).not.toBeNull();
    expect(u1).not.toHaveProperty('phoneNumber');
  });

  it('applies a bulkWrite of upserts, updates and deletes', async () => {
    const result = await entries.bulkWrite([
      { updateOne: { filter: { globalUserId: 'b1' }, update: { $set: { campaignId: 'c2' } }, upsert: true } },
      { updateOne: { filter: { globalUserId: 'b2' }, update: { $set: { campaignId: 'c2' } }, upsert: true } },
      { updateOne: { filter: { globalUserId: 'b1' }, update: { $set: { verdict: false } } } },
      { deleteOne: { filter: { globalUserId: 'b2' } } },
    ]);
    expect(result.upsertedCount).toBe(2);
    expect(result.modifiedCount).toBe(1);
    expect(result.deletedCount).toBe(1);
    expect(await entries.find({ campaignId: 'c2' }).toArray()).toMatchObject([
      { globalUserId: 'b1', verdict: false },
    ]);
  });

  it('enforces a unique index', async () => {
    const codes = db.collection(uniqueName('smoke_codes'));
    await codes.createIndex({ campaignId: 1, value: 1 }, { unique: true });
    await codes.insertOne({ campaignId: 'c1', value: 'CODE-1' });
    const error = await codes.insertOne({ campaignId: 'c1', value: 'CODE-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect((error as MongoServerError).code).toBe(11000);
    await codes.drop();
  });
});
