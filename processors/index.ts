import type { AnyProcessorDefinition } from '../runtime/types.ts';
import { ANALYTICS_ROUTER, analyticsRouterProcessor } from './analytics-router/processor.ts';
import { ECHO, echoProcessor } from './echo/processor.ts';
import { SAMPLE_STORE, sampleStoreProcessor } from './sample-store/processor.ts';

// Every runnable processor by name (= its consumer group id in topology/index.ts).

export const PROCESSORS: Readonly<Record<string, () => AnyProcessorDefinition>> = {
  [ECHO]: () => echoProcessor(),
  [SAMPLE_STORE]: () => sampleStoreProcessor(),
  [ANALYTICS_ROUTER]: () => analyticsRouterProcessor(),
};
