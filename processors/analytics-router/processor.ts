import type { AnyProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type AnalyticsTopics, analyticsRouterHandler } from './handler.ts';
import { DATA_TYPES, TYPE_TOPICS } from './records.ts';

// Wiring: analytics-router reads data.records and writes the five per-type topics and
// data.records.rejected. Tests and the benchmark pass a spec and topics of their own.

export const ANALYTICS_ROUTER = 'analytics-router';
export const DATA_RECORDS_TOPIC = 'data.records';
export const REJECTED_TOPIC = 'data.records.rejected';

/** The router's topics, each name prefixed by `prefix` (tests use `<unique>.`). */
export function analyticsTopics(prefix = ''): AnalyticsTopics & { input: string } {
  return {
    input: `${prefix}${DATA_RECORDS_TOPIC}`,
    byType: Object.fromEntries(
      DATA_TYPES.map((t) => [t, `${prefix}${TYPE_TOPICS[t].topic}`]),
    ) as AnalyticsTopics['byType'],
    rejected: `${prefix}${REJECTED_TOPIC}`,
  };
}

export function analyticsRouterProcessor(overrides?: {
  spec: ProcessorSpec;
  topics: AnalyticsTopics;
}): AnyProcessorDefinition {
  const spec = overrides?.spec ?? processorSpec(ANALYTICS_ROUTER);
  const topics = overrides?.topics ?? analyticsTopics();
  const outputSchemas: Record<string, object> = { [topics.rejected]: loadSchema('data-record') };
  for (const type of DATA_TYPES) outputSchemas[topics.byType[type]] = loadSchema(TYPE_TOPICS[type].schema);
  const undeclared = Object.keys(outputSchemas).filter((t) => !spec.outputs.includes(t));
  if (undeclared.length > 0) {
    throw new Error(`${spec.name} would write ${undeclared.join(', ')}, which are not among its outputs`);
  }
  return {
    spec,
    handler: analyticsRouterHandler(topics),
    outputSchemas,
  };
}
