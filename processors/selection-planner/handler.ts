import type { Campaign } from '../../campaigns/campaign.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Handler, OutputRecord } from '../../runtime/types.ts';
import type { SelectionRequest, SelectionResult, SelectionStats } from '../../schemas/types.generated.ts';
import { candidate, pairCodes, TopN } from '../../selection/draw.ts';
import type { CandidateRow, RunDoc, SeedDoc } from '../../selection/store.ts';

// selection-planner (the spec's enqueueMarketSelections), one request at a time:
//   1. checks the request (campaign exists and is CLOSED, market exists, winners ≥ 1);
//   2. TOTAL = the market's scoring rows; stats PROCESSING (also kept in selection_runs);
//   3. streams the candidates once (rows not won by another run) into a bounded top-N heap ranked by
//      score then HMAC(seed, globalUserId); rows without a globalUserId are counted FAILED;
//   4. reserves codes before anything is assigned: a TM market's shared code, or at least
//      max(winners, minReserve) unique codes; too few → stats FAILED, the run's reservations released,
//      no result emitted; the surplus over the winners is released;
//   5. streams the candidates again and emits result batches (winners with their code first, then
//      losers), then stats FINISHED with the seed revealed.
// Effects (reservations, run state) are idempotent per run id, and the same run always ranks the same
// rows, reserves the same codes and emits the same batches: a redelivered request changes nothing.

export interface PlannerResources {
  selection: {
    ensureSeed(campaignId: string): Promise<SeedDoc>;
    revealSeed(campaignId: string): Promise<void>;
    saveRun(run: Omit<RunDoc, '_id' | 'startedAt' | 'updatedAt'>): Promise<void>;
    countRows(campaignId: string, marketId: string): Promise<number>;
    candidates(campaignId: string, marketId: string, runId: string): AsyncIterable<CandidateRow>;
  };
  codes: {
    reserve(campaignId: string, marketId: string, n: number, runId: string): Promise<string[]>;
    release(campaignId: string, marketId: string, runId: string, keep?: readonly string[]): Promise<number>;
    sharedCode(campaignId: string, marketId: string): Promise<string | undefined>;
  };
  campaigns: { get(campaignId: string): Promise<Campaign | undefined> };
}

export interface PlannerOptions {
  resultsTopic: string;
  statsTopic: string;
  minReserve: number;
  /** Fans per result record. */
  batchSize: number;
  clock: Clock;
}

/** Rows paged between two calls of ctx.heartbeat() (itself throttled to one per second). */
const HEARTBEAT_ROWS = 1_000;

/**
 * Awaits one long store call (a count over a million rows, thousands of code claims), heartbeating
 * each second meanwhile, so the group does not evict the planner while the store works.
 */
async function beating<T>(ctx: { heartbeat?: () => Promise<void> }, work: Promise<T>): Promise<T> {
  const { heartbeat } = ctx;
  if (!heartbeat) return work;
  const timer = setInterval(() => void heartbeat(), 1_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

export const statsKey = (campaignId: string, marketId: string, runId: string) =>
  `${campaignId}|${marketId}|${runId}`;

export function plannerHandler(opts: PlannerOptions): Handler<SelectionRequest, PlannerResources> {
  return async (record, ctx) => {
    const req = record.value;
    const { selection, codes } = ctx.resources;
    const { campaignId, marketId, runId } = req;
    const key = statsKey(campaignId, marketId, runId);
    const stats = (s: Partial<SelectionStats> & Pick<SelectionStats, 'status'>): OutputRecord => ({
      topic: opts.statsTopic,
      key,
      value: {
        kind: 'RUN',
        campaignId,
        marketId,
        runId,
        total: 0,
        processed: 0,
        failed: 0,
        winnersRequested: req.winners,
        winnerVerdicts: 0,
        loserVerdicts: 0,
        seedHash: null,
        seed: null,
        reason: null,
        updatedAt: opts.clock.now().getTime(),
        ...s,
      } satisfies SelectionStats,
    });
    const fail = async (
      reason: string,
      counts: { total?: number; failed?: number; seedHash?: string | null } = {},
    ) => {
      ctx.log.warn({ campaignId, marketId, runId, reason }, 'selection run failed');
      await selection.saveRun({
        campaignId,
        marketId,
        runId,
        status: 'FAILED',
        winnersRequested: req.winners,
        total: counts.total ?? 0,
        processed: 0,
        failed: counts.failed ?? 0,
        reason,
      });
      return [
        stats({
          status: 'FAILED',
          reason,
          total: counts.total ?? 0,
          failed: counts.failed ?? 0,
          seedHash: counts.seedHash ?? null,
        }),
      ];
    };

    // 1. The request.
    if (!Number.isInteger(req.winners) || req.winners < 1)
      return fail(`winners: expected an integer ≥ 1, got ${req.winners}`);
    const campaign = await ctx.resources.campaigns.get(campaignId);
    if (!campaign) return fail(`campaignId: no campaign ${campaignId}`);
    if (campaign.status !== 'CLOSED')
      return fail(`campaignId: campaign ${campaignId} is ${campaign.status}, selection needs CLOSED`);
    const market = campaign.markets.find((m) => m.id === marketId);
    if (!market) return fail(`marketId: campaign ${campaignId} has no market ${marketId}`);

    // 2. TOTAL and PROCESSING.
    const t2 = Date.now();
    const seed = await selection.ensureSeed(campaignId);
    const total = await beating(ctx, selection.countRows(campaignId, marketId));
    const outputs: OutputRecord[] = [stats({ status: 'PROCESSING', total, seedHash: seed.seedHash })];
    await selection.saveRun({
      campaignId,
      marketId,
      runId,
      status: 'PROCESSING',
      winnersRequested: req.winners,
      total,
      processed: 0,
      failed: 0,
    });

    // 3. The top N, in bounded memory. A pass over a million rows takes minutes: the handler
    // heartbeats as it pages, so the group keeps it with the ordinary session timeout.
    const t3 = Date.now();
    const top = new TopN(req.winners);
    let rejected = 0;
    let candidates = 0;
    let seen = 0;
    for await (const row of selection.candidates(campaignId, marketId, runId)) {
      if (++seen % HEARTBEAT_ROWS === 0) await ctx.heartbeat?.();
      if (typeof row.globalUserId !== 'string' || row.globalUserId === '') {
        rejected++;
        continue;
      }
      candidates++;
      top.offer(candidate(seed.seed, { globalUserId: row.globalUserId, score: row.score ?? null }));
    }
    const ranked = top.ranked();
    const t4 = Date.now();

    // 4. Codes before any assignment.
    let paired: Array<{ globalUserId: string; code: string }> = [];
    const shared = market.ticketer === 'TM';
    if (ranked.length > 0) {
      if (shared) {
        const code = await codes.sharedCode(campaignId, marketId);
        if (!code)
          return fail(`codes: the TM market ${marketId} has no shared code in its pool`, {
            total,
            failed: rejected,
            seedHash: seed.seedHash,
          });
        paired = pairCodes(ranked, { shared: code });
      } else {
        const want = Math.max(ranked.length, opts.minReserve);
        // Thousands of claims (two writes each): heartbeats while the store works.
        const held = await beating(ctx, codes.reserve(campaignId, marketId, want, runId));
        if (held.length < ranked.length) {
          await beating(ctx, codes.release(campaignId, marketId, runId));
          return fail(
            `codes: ${ranked.length} winners need ${ranked.length} codes, the pool of ${marketId} had ${held.length}`,
            {
              total,
              failed: rejected,
              seedHash: seed.seedHash,
            },
          );
        }
        paired = pairCodes(ranked, { unique: held });
        if (held.length > paired.length)
          await beating(
            ctx,
            codes.release(
              campaignId,
              marketId,
              runId,
              paired.map((p) => p.code),
            ),
          );
      }
    }

    // 5. Result batches: winners first, then every other candidate as a loser.
    const t5 = Date.now();
    const winnerIds = new Set(paired.map((p) => p.globalUserId));
    let batch = 0;
    const emit = (winners: SelectionResult['winners'], losers: string[]) =>
      outputs.push({
        topic: opts.resultsTopic,
        key: `${key}|${batch}`,
        value: {
          runId,
          campaignId,
          marketId,
          batch: batch++,
          sharedCode: shared,
          winners,
          losers,
        } satisfies SelectionResult,
      });
    for (let i = 0; i < paired.length; i += opts.batchSize) emit(paired.slice(i, i + opts.batchSize), []);
    let losers: string[] = [];
    let loserCount = 0;
    seen = 0;
    for await (const row of selection.candidates(campaignId, marketId, runId)) {
      if (++seen % HEARTBEAT_ROWS === 0) await ctx.heartbeat?.();
      if (typeof row.globalUserId !== 'string' || row.globalUserId === '' || winnerIds.has(row.globalUserId))
        continue;
      losers.push(row.globalUserId);
      loserCount++;
      if (losers.length >= opts.batchSize) {
        emit([], losers);
        losers = [];
      }
    }
    if (losers.length > 0) emit([], losers);
    const t6 = Date.now();

    await selection.saveRun({
      campaignId,
      marketId,
      runId,
      status: 'FINISHED',
      winnersRequested: req.winners,
      total,
      processed: paired.length,
      failed: rejected,
      decided: paired.length + loserCount,
    });
    await selection.revealSeed(campaignId);
    outputs.push(
      stats({
        status: 'FINISHED',
        total,
        processed: paired.length,
        failed: rejected,
        seedHash: seed.seedHash,
        seed: seed.seed,
      }),
    );
    ctx.log.info(
      {
        campaignId,
        marketId,
        runId,
        total,
        candidates,
        winners: paired.length,
        failed: rejected,
        batches: batch,
        // Stage times (ms): count + PROCESSING, the ranking pass, code reservation, the result pass.
        stagesMs: { count: t3 - t2, rank: t4 - t3, reserve: t5 - t4, emit: t6 - t5 },
      },
      'selection run planned',
    );
    return outputs;
  };
}
