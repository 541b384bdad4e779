import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SampleEvent } from '../../schemas/types.generated.ts';
import { sampleEventsStore } from '../../stores/sample-events.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type SampleStoreResources, sampleStoreHandler } from './handler.ts';

// Wiring: sample events in, batches of 25 to the MongoDB store, the stored events out. `spec`
// may be overridden (tests run it on topics of their own).

export const SAMPLE_STORE = 'sample-store';
export const SAMPLE_STORE_BATCH = 25;

export function sampleStoreProcessor(
  spec?: ProcessorSpec,
): ProcessorDefinition<SampleEvent, SampleStoreResources> {
  const resolved = spec ?? processorSpec(SAMPLE_STORE);
  const output = resolved.outputs[0]!;
  return {
    spec: resolved,
    resources: { samples: sampleEventsStore },
    batch: { size: SAMPLE_STORE_BATCH, handler: sampleStoreHandler(output) },
    outputSchemas: { [output]: loadSchema('sample-event') },
  };
}
