import type { ProcessorDefinition } from '../../runtime/types.ts';
import type { DemandChange } from '../../schemas/types.generated.ts';
import { codeStore } from '../../selection/resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type CodeMarkerResources, codeMarkerHandler } from './handler.ts';

export const CODE_MARKER = 'code-marker';

export function codeMarkerProcessor(
  spec?: ProcessorSpec,
): ProcessorDefinition<DemandChange, CodeMarkerResources> {
  const resolved = spec ?? processorSpec(CODE_MARKER);
  return { spec: resolved, resources: { codes: codeStore }, handler: codeMarkerHandler(), outputSchemas: {} };
}
