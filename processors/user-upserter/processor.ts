import type { ProcessorDefinition } from '../../runtime/types.ts';
import type { UserProfile } from '../../schemas/types.generated.ts';
import { userStore } from '../../stores/resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type UserUpserterResources, userUpserterHandler } from './handler.ts';

// Wiring: users.upserts in, batches of 25 into the user store, nothing out.

export const USER_UPSERTER = 'user-upserter';
export const USER_UPSERTER_BATCH = 25;

export function userUpserterProcessor(
  spec?: ProcessorSpec,
): ProcessorDefinition<UserProfile, UserUpserterResources> {
  const resolved = spec ?? processorSpec(USER_UPSERTER);
  return {
    spec: resolved,
    resources: { users: userStore },
    batch: { size: USER_UPSERTER_BATCH, handler: userUpserterHandler() },
    outputSchemas: {},
  };
}
