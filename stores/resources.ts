import { mongo } from '../lib/resources.ts';
import { defineResource } from '../runtime/resources.ts';
import { type EntryStore, MongoEntryStore } from './entries.ts';
import { MongoScoringStore, type ScoringStore } from './scoring.ts';
import { MongoUserStore, type UserStore } from './users.ts';

// The stores as processor resources: built on the shared MongoDB client (`use(mongo)`), their
// indexes ensured once at open (idempotent).

export const entryStore = defineResource<EntryStore>({
  name: 'entry-store',
  open: async ({ use }) => {
    const store = new MongoEntryStore((await use(mongo)).db);
    await store.init();
    return store;
  },
});

export const userStore = defineResource<UserStore>({
  name: 'user-store',
  open: async ({ use }) => {
    const store = new MongoUserStore((await use(mongo)).db);
    await store.init();
    return store;
  },
});

export const scoringStore = defineResource<ScoringStore>({
  name: 'scoring-store',
  open: async ({ use }) => {
    const store = new MongoScoringStore((await use(mongo)).db);
    await store.init();
    return store;
  },
});
