import type { AnyProcessorDefinition } from '../runtime/types.ts';
import { ECHO, echoProcessor } from './echo/processor.ts';
import { ENTRY_FILTER, entryFilterProcessor } from './entry-filter/processor.ts';
import { ENTRY_REPLICATOR, entryReplicatorProcessor } from './entry-replicator/processor.ts';
import { SAMPLE_STORE, sampleStoreProcessor } from './sample-store/processor.ts';
import { USER_UPSERTER, userUpserterProcessor } from './user-upserter/processor.ts';

// Every runnable processor by name (= its consumer group id in topology/index.ts).

export const PROCESSORS: Readonly<Record<string, () => AnyProcessorDefinition>> = {
  [ECHO]: () => echoProcessor(),
  [SAMPLE_STORE]: () => sampleStoreProcessor(),
  [ENTRY_FILTER]: () => entryFilterProcessor(),
  [ENTRY_REPLICATOR]: () => entryReplicatorProcessor(),
  [USER_UPSERTER]: () => userUpserterProcessor(),
};
