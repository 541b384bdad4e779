import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { DemandChange } from '../../schemas/types.generated.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { entryFilterHandler } from './handler.ts';

// Wiring: demand.changes in, entry changes out (entries.replicate). No resources: the rule is pure.
// `spec` may be overridden (tests and the benchmark run it on topics of their own).

export const ENTRY_FILTER = 'entry-filter';

export function entryFilterProcessor(spec?: ProcessorSpec): ProcessorDefinition<DemandChange> {
  const resolved = spec ?? processorSpec(ENTRY_FILTER);
  const output = resolved.outputs[0]!;
  return {
    spec: resolved,
    handler: entryFilterHandler(output),
    outputSchemas: { [output]: loadSchema('entry-change') },
  };
}
