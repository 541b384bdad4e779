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
/**
 * Rows of the market scan per page of losers: at most 50 result records (~12 KB each) and 50,000
 * ids in memory per transaction, and 20 pages at 1,000,000 rows.
 */
export const PAGE_SIZE = 50_000;

export function selectionPlannerProcessor(
  spec?: ProcessorSpec,
  options: { minReserve?: number; batchSize?: number; pageSize?: number } = {},
): ProcessorDefinition<SelectionRequest, PlannerResources> {
  const resolved = spec ?? processorSpec(SELECTION_PLANNER);
  // The planner writes its pages of losers back to its own input (selection.requests).
  const [resultsTopic, statsTopic, requestsTopic] = resolved.outputs as [string, string, string];
  return {
    spec: resolved,
    resources: { selection: selectionStore, codes: codeStore, campaigns: campaignReader },
    handler: plannerHandler({
      resultsTopic,
      statsTopic,
      requestsTopic,
      minReserve: options.minReserve ?? 500,
      batchSize: options.batchSize ?? RESULT_BATCH,
      pageSize: options.pageSize ?? PAGE_SIZE,
      clock: systemClock,
    }),
    outputSchemas: {
      [resultsTopic]: loadSchema('selection-result'),
      [statsTopic]: loadSchema('selection-stats'),
      [requestsTopic]: loadSchema('selection-request'),
    },
  };
}
