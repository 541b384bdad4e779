import type { Clock } from '../../lib/clock.ts';
import { beatWhile } from '../../runtime/heartbeat.ts';
import type { Handler } from '../../runtime/types.ts';
import type { SelectionStats, VerdictCount } from '../../schemas/types.generated.ts';

// verdict-reporter: aggregates the saver's verdict counts per campaign / market / run into the
// selection stats. Each count is stored under its batch's key (a replayed count overwrites itself
// with the same numbers), then the run's sum is emitted as the VERDICTS stats of the run: FINISHED
// once every fan the planner decided has a verdict (the run's FINISHED stats give the expected
// number: TOTAL - FAILED candidates of the first wave, or fewer for later waves), else PROCESSING.

export interface ReporterResources {
  selection: {
    saveCount(count: VerdictCount): Promise<void>;
    sumCounts(
      campaignId: string,
      marketId: string,
      runId: string,
    ): Promise<{ winners: number; losers: number; skipped: number; batches: number }>;
    expectedVerdicts(
      campaignId: string,
      marketId: string,
      runId: string,
    ): Promise<{ winners: number; decided: number } | null>;
  };
}

export function reporterHandler(opts: {
  statsTopic: string;
  clock: Clock;
}): Handler<VerdictCount, ReporterResources> {
  return async (record, ctx) => {
    const c = record.value;
    const { selection } = ctx.resources;
    // Three store calls, usually milliseconds; on a loaded store they can outlast the session
    // timeout, and a member evicted before its commit starts the batch over, again and again.
    const { sum, expected } = await beatWhile(
      ctx,
      (async () => {
        await selection.saveCount(c);
        return {
          sum: await selection.sumCounts(c.campaignId, c.marketId, c.runId),
          expected: await selection.expectedVerdicts(c.campaignId, c.marketId, c.runId),
        };
      })(),
    );
    const done = expected !== null && sum.winners + sum.losers >= expected.decided;
    const stats: SelectionStats = {
      kind: 'VERDICTS',
      campaignId: c.campaignId,
      marketId: c.marketId,
      runId: c.runId,
      status: done ? 'FINISHED' : 'PROCESSING',
      total: expected?.decided ?? 0,
      processed: sum.winners,
      failed: 0,
      winnersRequested: expected?.winners ?? 0,
      winnerVerdicts: sum.winners,
      loserVerdicts: sum.losers,
      seedHash: null,
      seed: null,
      reason: null,
      updatedAt: opts.clock.now().getTime(),
    };
    return [
      { topic: opts.statsTopic, key: `${c.campaignId}|${c.marketId}|${c.runId}|verdicts`, value: stats },
    ];
  };
}
