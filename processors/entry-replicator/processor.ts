import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { EntryChange } from '../../schemas/types.generated.ts';
import { entryStore, scoringStore } from '../../stores/resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { demandItems } from './demand-items.ts';
import { type EntryReplicatorResources, entryReplicatorHandler } from './handler.ts';

// Wiring: entries.replicate in, batches of 25; outputs in the spec's order
// [users.upserts, data.records, entries.rejected]. `spec` may be overridden (tests, benchmark).

export const ENTRY_REPLICATOR = 'entry-replicator';
export const ENTRY_REPLICATOR_BATCH = 25;

export function entryReplicatorProcessor(
  spec?: ProcessorSpec,
): ProcessorDefinition<EntryChange, EntryReplicatorResources> {
  const resolved = spec ?? processorSpec(ENTRY_REPLICATOR);
  const [users, dataRecords, rejected] = resolved.outputs;
  if (!users || !dataRecords || !rejected)
    throw new Error(`${ENTRY_REPLICATOR} needs three outputs: users, data records, rejected changes`);
  return {
    spec: resolved,
    resources: { demand: demandItems, entries: entryStore, scoring: scoringStore },
    batch: {
      size: ENTRY_REPLICATOR_BATCH,
      handler: entryReplicatorHandler({ users, dataRecords, rejected }),
    },
    outputSchemas: {
      [users]: loadSchema('user-profile'),
      [dataRecords]: loadSchema('data-record'),
      [rejected]: loadSchema('entry-rejection'),
    },
  };
}
