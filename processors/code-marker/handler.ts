import { PermanentError } from '../../lib/errors.ts';
import type { Handler } from '../../runtime/types.ts';
import type { DemandChange } from '../../schemas/types.generated.ts';
import { verdictsOf } from '../../selection/verdicts-table.ts';

// code-marker (the spec's markAssignedCodes): reads demand.changes; when an entry item gains a
// winning verdict with a code (in any market) that its old image did not have, marks that code
// assigned to the fan in the code store. Assigning is idempotent, so a replayed change is a no-op.

export interface CodeMarkerResources {
  codes: {
    assign(
      campaignId: string,
      marketId: string,
      code: string,
      globalUserId: string,
      options?: { shared?: boolean },
    ): Promise<'assigned' | 'unchanged'>;
  };
}

function parseImage(json: string | null, field: string): Record<string, unknown> | null {
  if (json === null) return null;
  try {
    const v = JSON.parse(json) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new PermanentError(`${field}: not a JSON object`);
}

/** The codes a change newly gives to winners: [{campaignId, marketId, globalUserId, code}]. */
export function newlyAssignedCodes(change: DemandChange) {
  if (change.op === 'REMOVE') return [];
  const after = parseImage(change.newImage, 'newImage');
  if (after?.type !== 'entry') return [];
  const before = verdictsOf(parseImage(change.oldImage, 'oldImage'));
  const out: Array<{ campaignId: string; marketId: string; globalUserId: string; code: string }> = [];
  for (const [marketId, v] of verdictsOf(after)) {
    if (!v.verdict || !v.code) continue;
    const old = before.get(marketId);
    if (old?.verdict && old.code === v.code) continue;
    const { campaignId, globalUserId } = after;
    if (typeof campaignId !== 'string' || typeof globalUserId !== 'string')
      throw new PermanentError('newImage: an entry item needs campaignId and globalUserId');
    out.push({ campaignId, marketId, globalUserId, code: v.code });
  }
  return out;
}

export function codeMarkerHandler(): Handler<DemandChange, CodeMarkerResources> {
  return async (record, ctx) => {
    for (const a of newlyAssignedCodes(record.value)) {
      // The code store knows a TM market's shared code (flagged when the planner picked it).
      await ctx.resources.codes.assign(a.campaignId, a.marketId, a.code, a.globalUserId);
    }
    return [];
  };
}
