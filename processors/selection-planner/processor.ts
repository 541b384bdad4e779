import { systemClock } from '../../lib/clock.ts';
import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SelectionRequest } from '../../schemas/types.generated.ts';
import { campaignReader, codeStore, selectionStore } from '../../selection/resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type PlannerResources, plannerHandler } from './handler.ts';

export const SELECTION_PLANNER = 'selection-planner';
/** Fans per selection.results record. */
export const RESULT_BATCH = 1000;

export function selectionPlannerProcessor(
  spec?: ProcessorSpec,
  options: { minReserve?: number; batchSize?: number } = {},
): ProcessorDefinition<SelectionRequest, PlannerResources> {
  const resolved = spec ?? processorSpec(SELECTION_PLANNER);
  const [resultsTopic, statsTopic] = resolved.outputs as [string, string];
  return {
    spec: resolved,
    resources: { selection: selectionStore, codes: codeStore, campaigns: campaignReader },
    handler: plannerHandler({
      resultsTopic,
      statsTopic,
      minReserve: options.minReserve ?? 500,
      batchSize: options.batchSize ?? RESULT_BATCH,
      clock: systemClock,
    }),
    outputSchemas: {
      [resultsTopic]: loadSchema('selection-result'),
      [statsTopic]: loadSchema('selection-stats'),
    },
  };
}
