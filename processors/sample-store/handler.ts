import { PermanentError } from '../../lib/errors.ts';
import { type BatchHandler, failed, succeeded } from '../../runtime/types.ts';
import type { SampleEvent } from '../../schemas/types.generated.ts';
import type { SampleEventsStore } from '../../stores/sample-events.ts';

// The reference processor with an effect outside Kafka: each batch of sample events is written
// to the store (a conditional, versioned upsert per key), and each stored event is forwarded.
// The effect runs before the runtime commits the batch's transaction: if the commit fails or the
// process dies, the batch comes again and the store answers "unchanged". `behavior: permanent`
// is refused before any write (a record the store must never see), as a validation failure would be.

export interface SampleStoreResources {
  samples: SampleEventsStore;
}

export function sampleStoreHandler(output: string): BatchHandler<SampleEvent, SampleStoreResources> {
  return async (records, ctx) => {
    const writable = records.filter((r) => r.value.behavior !== 'permanent');
    const results = await ctx.resources.samples.putLatest(writable.map((r) => r.value));
    let next = 0;
    return records.map((r) => {
      if (r.value.behavior === 'permanent') {
        return failed(new PermanentError(`sample event ${r.value.id} is marked permanent`));
      }
      const result = results[next++]!;
      if (typeof result === 'object') return failed(result.error);
      return succeeded([{ topic: output, key: r.key, value: r.value }]);
    });
  };
}
