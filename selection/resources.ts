import { dynamodb, mongo } from '../lib/resources.ts';
import { defineResource } from '../runtime/resources.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { MongoCodeStore } from '../stores/codes.ts';
import { SelectionStore } from './store.ts';
import { VerdictsTable } from './verdicts-table.ts';

// The resources of the selection processors, each opened once per process and shared.

export const selectionStore = defineResource<SelectionStore>({
  name: 'selection-store',
  open: async ({ use }) => {
    const { db } = await use(mongo);
    const store = new SelectionStore(db);
    await store.init();
    return store;
  },
  // The planner's cursors kept between pages of a run (before the MongoDB client closes).
  close: (store) => store.close(),
});

export const codeStore = defineResource<MongoCodeStore>({
  name: 'code-store',
  open: async ({ use }) => {
    const { db } = await use(mongo);
    const store = new MongoCodeStore(db);
    await store.init();
    return store;
  },
});

export const campaignReader = defineResource<MongoCampaignStore>({
  name: 'campaign-store',
  open: async ({ use }) => new MongoCampaignStore((await use(mongo)).db),
});

export const verdictsTable = defineResource<VerdictsTable>({
  name: 'verdicts-table',
  open: async ({ use, config }) => new VerdictsTable(await use(dynamodb), config.dynamodb.demandTable),
});
