import { storeContract } from '../test/contracts/stores.ts';
import { MemoryCampaignStore, MemoryEntryStore, MemoryScoringStore, MemoryUserStore } from './memory.ts';

// The in-memory fakes keep the same contract as the MongoDB stores.

const campaigns = new MemoryCampaignStore();
const entries = new MemoryEntryStore();
const users = new MemoryUserStore();
const scoring = new MemoryScoringStore();

storeContract('in-memory fake', {
  campaigns: () => campaigns,
  entries: () => entries,
  users: () => users,
  scoring: () => scoring,
});
