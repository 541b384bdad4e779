import type { Clock } from '../../lib/clock.ts';
import { PermanentError } from '../../lib/errors.ts';
import { type BatchHandler, failed, succeeded } from '../../runtime/types.ts';
import type { SelectionResult, VerdictCount } from '../../schemas/types.generated.ts';

// selection-saver (the spec's saveSelections), a batch processor. For each result batch:
//   1. assigns the winners' codes in the entry store (verdict true, code and run on their scoring
//      rows; the spec's POST /campaignId/entries/codes). Losers are not written there: a row
//      without a winning verdict is what the next wave draws from, and FerretDB takes ~100 ms a
//      write under load, so 49,500 loser writes would dominate the run;
//   2. writes every verdict to DynamoDB (`selection#<market>` on the fan's entry item): true with
//      the code for winners, false for losers (spec step 11);
//   3. emits the batch's verdict counts.
// Both writes are conditional (see selection/store.ts and selection/verdicts-table.ts): a replay,
// a redelivery or a restart after kill -9 rewrites nothing. A batch that fails (a timeout) fails
// alone: the runtime retries it in place, then through the retry topics.

export interface SaverResources {
  entries: {
    recordVerdicts(
      campaignId: string,
      marketId: string,
      runId: string,
      winners: ReadonlyArray<{ globalUserId: string; code: string }>,
      losers: readonly string[],
      options?: { onProgress?: () => unknown },
    ): Promise<{ written: number; skipped: number }>;
  };
  verdicts: {
    writeVerdicts(
      campaignId: string,
      marketId: string,
      runId: string,
      winners: ReadonlyArray<{ globalUserId: string; code: string }>,
      losers: readonly string[],
      decidedAt: string,
      options?: { onProgress?: () => unknown },
    ): Promise<{ written: number; unchanged: number }>;
  };
}

export function validateResult(r: SelectionResult): void {
  const seen = new Set<string>();
  const codes = new Set<string>();
  r.winners.forEach((w, i) => {
    if (!w.globalUserId) throw new PermanentError(`winners[${i}].globalUserId: empty`);
    if (!w.code) throw new PermanentError(`winners[${i}].code: a winner needs a code`);
    if (seen.has(w.globalUserId))
      throw new PermanentError(`winners[${i}].globalUserId: ${w.globalUserId} appears twice`);
    if (!r.sharedCode && codes.has(w.code))
      throw new PermanentError(`winners[${i}].code: ${w.code} paired twice`);
    seen.add(w.globalUserId);
    codes.add(w.code);
  });
  r.losers.forEach((g, i) => {
    if (!g) throw new PermanentError(`losers[${i}]: empty globalUserId`);
    if (seen.has(g)) throw new PermanentError(`losers[${i}]: ${g} is also a winner`);
  });
}

export function saverHandler(opts: {
  countsTopic: string;
  clock: Clock;
}): BatchHandler<SelectionResult, SaverResources> {
  return async (records, ctx) =>
    Promise.all(
      records.map(async (record) => {
        const r = record.value;
        try {
          validateResult(r);
          const entries = await ctx.resources.entries.recordVerdicts(
            r.campaignId,
            r.marketId,
            r.runId,
            r.winners,
            [],
            { onProgress: ctx.heartbeat },
          );
          const verdicts = await ctx.resources.verdicts.writeVerdicts(
            r.campaignId,
            r.marketId,
            r.runId,
            r.winners,
            r.losers,
            opts.clock.now().toISOString(),
            // A batch is thousands of writes: heartbeat as they land (throttled by the runtime).
            { onProgress: ctx.heartbeat },
          );
          const count: VerdictCount = {
            runId: r.runId,
            campaignId: r.campaignId,
            marketId: r.marketId,
            batch: r.batch,
            winners: r.winners.length,
            losers: r.losers.length,
            skipped: entries.skipped,
          };
          if (entries.skipped > 0)
            ctx.log.warn(
              {
                runId: r.runId,
                batch: r.batch,
                skipped: entries.skipped,
                unchangedVerdicts: verdicts.unchanged,
              },
              'rows already decided by another run or missing were left alone',
            );
          return succeeded([
            {
              topic: opts.countsTopic,
              key: `${r.campaignId}|${r.marketId}|${r.runId}|${r.batch}`,
              value: count,
            },
          ]);
        } catch (err) {
          return failed(err);
        }
      }),
    );
}
