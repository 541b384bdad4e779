import { loadConfig } from '../config/index.ts';
import type { AnyProcessorDefinition } from '../runtime/types.ts';
import { CODE_MARKER, codeMarkerProcessor } from './code-marker/processor.ts';
import { ECHO, echoProcessor } from './echo/processor.ts';
import { SAMPLE_STORE, sampleStoreProcessor } from './sample-store/processor.ts';
import { SELECTION_PLANNER, selectionPlannerProcessor } from './selection-planner/processor.ts';
import { SELECTION_SAVER, selectionSaverProcessor } from './selection-saver/processor.ts';
import { VERDICT_REPORTER, verdictReporterProcessor } from './verdict-reporter/processor.ts';

// Every runnable processor by name (= its consumer group id in topology/index.ts).

export const PROCESSORS: Readonly<Record<string, () => AnyProcessorDefinition>> = {
  [ECHO]: () => echoProcessor(),
  [SAMPLE_STORE]: () => sampleStoreProcessor(),
  [SELECTION_PLANNER]: () =>
    selectionPlannerProcessor(undefined, { minReserve: loadConfig().selection.minReserve }),
  [SELECTION_SAVER]: () => selectionSaverProcessor(),
  [CODE_MARKER]: () => codeMarkerProcessor(),
  [VERDICT_REPORTER]: () => verdictReporterProcessor(),
};
