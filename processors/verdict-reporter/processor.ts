import { systemClock } from '../../lib/clock.ts';
import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { VerdictCount } from '../../schemas/types.generated.ts';
import { selectionStore } from '../../selection/resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type ReporterResources, reporterHandler } from './handler.ts';

export const VERDICT_REPORTER = 'verdict-reporter';

export function verdictReporterProcessor(
  spec?: ProcessorSpec,
): ProcessorDefinition<VerdictCount, ReporterResources> {
  const resolved = spec ?? processorSpec(VERDICT_REPORTER);
  const statsTopic = resolved.outputs[0]!;
  return {
    spec: resolved,
    resources: { selection: selectionStore },
    handler: reporterHandler({ statsTopic, clock: systemClock }),
    outputSchemas: { [statsTopic]: loadSchema('selection-stats') },
  };
}
