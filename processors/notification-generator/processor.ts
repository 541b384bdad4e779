import type { ResourceMap } from '../../runtime/resources.ts';
import type { ProcessorDefinition } from '../../runtime/types.ts';
import type { NotificationRequest } from '../../schemas/types.generated.ts';
import {
  clockResource,
  notificationCampaigns,
  notificationState,
  pager,
  reminderWriter,
  winnerQueries,
} from '../../stores/notification-resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type GeneratorResources, notificationGeneratorHandler } from './handler.ts';

// Wiring: notification requests in (one per market), reminder records to the demand table, no
// Kafka output. A batch holds few requests: each can be a whole market of winners.

export const NOTIFICATION_GENERATOR = 'notification-generator';
export const NOTIFICATION_GENERATOR_BATCH = 4;

export function notificationGeneratorProcessor(
  options: { spec?: ProcessorSpec; resources?: Partial<ResourceMap<GeneratorResources>> } = {},
): ProcessorDefinition<NotificationRequest, GeneratorResources> {
  const spec = options.spec ?? processorSpec(NOTIFICATION_GENERATOR);
  return {
    spec,
    resources: {
      campaigns: notificationCampaigns,
      state: notificationState,
      winners: winnerQueries,
      reminders: reminderWriter,
      pager,
      clock: clockResource(),
      ...options.resources,
    },
    batch: { size: NOTIFICATION_GENERATOR_BATCH, handler: notificationGeneratorHandler() },
    outputSchemas: {},
  };
}
