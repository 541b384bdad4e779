import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SampleEvent } from '../../schemas/types.generated.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { echoHandler } from './handler.ts';

// Wiring: where echo's records come from and go. `spec` may be overridden (tests and the
// benchmark run echo on topics of their own).

export const ECHO = 'echo';

export function echoProcessor(spec?: ProcessorSpec): ProcessorDefinition<SampleEvent> {
  const resolved = spec ?? processorSpec(ECHO);
  const output = resolved.outputs[0]!;
  const schema = loadSchema('sample-event');
  return {
    spec: resolved,
    handler: echoHandler(output),
    outputSchemas: { [output]: schema },
  };
}
