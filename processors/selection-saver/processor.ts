import { systemClock } from '../../lib/clock.ts';
import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SelectionResult } from '../../schemas/types.generated.ts';
import { selectionStore, verdictsTable } from '../../selection/resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type SaverResources, saverHandler } from './handler.ts';

export const SELECTION_SAVER = 'selection-saver';
/** Result records (of up to 1,000 fans each) per batch. */
export const SAVER_BATCH = 2;

export function selectionSaverProcessor(
  spec?: ProcessorSpec,
): ProcessorDefinition<SelectionResult, SaverResources> {
  const resolved = spec ?? processorSpec(SELECTION_SAVER);
  const countsTopic = resolved.outputs[0]!;
  return {
    spec: resolved,
    resources: { entries: selectionStore, verdicts: verdictsTable },
    batch: { size: SAVER_BATCH, handler: saverHandler({ countsTopic, clock: systemClock }) },
    outputSchemas: { [countsTopic]: loadSchema('verdict-count') },
  };
}
