import type { Db } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
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
