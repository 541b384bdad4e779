import type { ResourceMap } from '../../runtime/resources.ts';
import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SchedulerTick } from '../../schemas/types.generated.ts';
import {
  clockResource,
  notificationCampaigns,
  notificationSettings,
  notificationState,
  winnerQueries,
} from '../../stores/notification-resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type SchedulerJobsResources, schedulerJobsHandler } from './handler.ts';

// Wiring: scheduler ticks in; notification requests and export requests out. `spec` and
// `resources` may be overridden (tests: topics of their own, a simulated clock).

export const SCHEDULER_JOBS = 'scheduler-jobs';

export function schedulerJobsProcessor(
  options: { spec?: ProcessorSpec; resources?: Partial<ResourceMap<SchedulerJobsResources>> } = {},
): ProcessorDefinition<SchedulerTick, SchedulerJobsResources> {
  const spec = options.spec ?? processorSpec(SCHEDULER_JOBS);
  const [notificationRequests, exportRequests] = spec.outputs as [string, string];
  return {
    spec,
    resources: {
      campaigns: notificationCampaigns,
      state: notificationState,
      winners: winnerQueries,
      clock: clockResource(),
      settings: notificationSettings,
      ...options.resources,
    },
    handler: schedulerJobsHandler({ notificationRequests, exportRequests }),
    outputSchemas: {
      [notificationRequests]: loadSchema('notification-request'),
      [exportRequests]: loadSchema('export-request'),
    },
  };
}
