import { describeError, RetriableError } from '../../lib/errors.ts';
import { withTimeout } from '../../lib/retry.ts';
import { type BatchHandler, failed, succeeded } from '../../runtime/types.ts';
import type { UserProfile as UserProfileMessage } from '../../schemas/types.generated.ts';
import { MAX_USER_BATCH, type UserProfile, type UserStore } from '../../stores/users.ts';

// The spec's upsertUsers: batches of profiles into the user store (at most 25 per call). The store
// keeps the highest version per fan, so a redelivered or older profile changes nothing. A failed
// call fails its profiles, retriably (in-place attempts, then the retry tiers). No outputs.
// Counted (ctx.metrics → regflow_handler_outcomes_total): `applied`, `already-current`.

export interface UserUpserterResources {
  users: UserStore;
}

export function userRecordOf(p: UserProfileMessage): UserProfile {
  const u: UserProfile = {
    globalUserId: p.globalUserId,
    email: p.email,
    version: p.version,
    updatedAt: p.updatedAt,
  };
  for (const f of ['firstName', 'lastName', 'phone', 'postalCode', 'locale'] as const) {
    const v = p[f];
    if (v !== null) u[f] = v;
  }
  if (p.marketing !== null) u.marketing = { ...p.marketing };
  return u;
}

export function userUpserterHandler(): BatchHandler<UserProfileMessage, UserUpserterResources> {
  return async (records, ctx) => {
    const outcomes = new Array(records.length);
    for (let start = 0; start < records.length; start += MAX_USER_BATCH) {
      const chunk = records.slice(start, start + MAX_USER_BATCH);
      try {
        const result = await withTimeout(
          ctx.resources.users.upsertUsers(chunk.map((r) => userRecordOf(r.value))),
          15_000,
          'user store upsert',
        );
        ctx.metrics?.count('applied', result.applied.length);
        ctx.metrics?.count('already-current', result.stale.length);
        if (result.stale.length > 0)
          ctx.log.info({ already: result.stale.length }, 'user store already had these versions');
        chunk.forEach((_, i) => {
          outcomes[start + i] = succeeded();
        });
      } catch (err) {
        const error = new RetriableError(`user store upsert failed: ${describeError(err)}`, { cause: err });
        ctx.log.warn({ records: chunk.length, err: describeError(err) }, error.message);
        chunk.forEach((_, i) => {
          outcomes[start + i] = failed(error);
        });
      }
    }
    return outcomes;
  };
}
