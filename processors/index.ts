import type { ProcessorDefinition } from '../runtime/types.ts';
import { ANALYTICS_ROUTER, analyticsRouterProcessor } from './analytics-router/processor.ts';
import { ECHO, echoProcessor } from './echo/processor.ts';

// Every runnable processor by name (= its consumer group id in topology/index.ts).

export const PROCESSORS: Readonly<Record<string, () => ProcessorDefinition>> = {
  [ECHO]: () => echoProcessor(),
  [ANALYTICS_ROUTER]: () => analyticsRouterProcessor(),
};
