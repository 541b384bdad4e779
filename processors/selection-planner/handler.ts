import type { Campaign } from '../../campaigns/campaign.ts';
import type { Clock } from '../../lib/clock.ts';
import { ValidationError } from '../../lib/errors.ts';
import { beatWhile } from '../../runtime/heartbeat.ts';
import type { Handler, HandlerContext, OutputRecord } from '../../runtime/types.ts';
import type {
  SelectionPage,
  SelectionRequest,
  SelectionResult,
  SelectionStats,
  SelectionThreshold,
} from '../../schemas/types.generated.ts';
import {
  type Candidate,
  candidate,
  compareCandidates,
  pairCodes,
  scoreOrder,
  TopN,
} from '../../selection/draw.ts';
import type { ScanRow } from '../../selection/scan.ts';
import type { RunDoc, SeedDoc } from '../../selection/store.ts';

// selection-planner (the spec's enqueueMarketSelections). A run is handled in several calls, each
// its own transaction, so the planner's memory does not grow with the market:
//
// The request (no `page`):
//   1. checks it (campaign exists and is CLOSED, market exists, winners ≥ 1);
//   2. scans the market's rows once: TOTAL = the rows; rows without a globalUserId count FAILED; the
//      candidates (rows not won by another run) go through a bounded top-N heap ranked by score then
//      HMAC(seed, globalUserId); every `pageSize` rows of the scan close a page (its last _id);
//   3. reserves codes before anything is assigned: a TM market's shared code, or at least
//      max(winners, minReserve) unique codes; too few → stats FAILED, the run's reservations
//      released, no result emitted; the surplus over the winners is released;
//   4. records the run PROCESSING with the fans it decides (the verdict-reporter's target), and
//      emits in one transaction: stats PROCESSING, the winners with their code (result batches),
//      and one page record per page of the scan, back on its own input topic (same key, so they
//      follow in order). Each carries the rank threshold (the last winner): a candidate is a loser
//      iff it ranks after it. With no loser to emit, the run FINISHES here.
// A page (`page` set): emits the losers among the page's rows (result batches numbered in the page's
// own range). The last page records the run FINISHED, reveals the seed and emits stats FINISHED.
//
// Everything is a function of the run id and the market's rows: a redelivered request or page, or a
// replay, re-emits the same batches (the same keys), reserves the same codes, and the saver's
// conditional writes change nothing. Memory: the heap of N winners, one page of losers (pageSize),
// one cursor batch, and one _id per page.

export interface PlannerResources {
  selection: {
    ensureSeed(campaignId: string): Promise<SeedDoc>;
    revealSeed(campaignId: string): Promise<void>;
    saveRun(run: Omit<RunDoc, '_id' | 'startedAt' | 'updatedAt'>): Promise<void>;
    /** Every row of the market in scan order. */
    marketRows(campaignId: string, marketId: string): AsyncIterable<ScanRow>;
    /** The rows after `afterId` (null: from the first) up to `untilId` included, in the order of marketRows. */
    pageRows(
      campaignId: string,
      marketId: string,
      runId: string,
      afterId: string | null,
      untilId: string,
    ): Promise<{ resumed: boolean; rows: AsyncIterable<ScanRow> }>;
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
  /** The planner's own input: where its page records go. */
  requestsTopic: string;
  minReserve: number;
  /** Fans per result record. */
  batchSize: number;
  /** Rows of the market scan per page (so at most this many losers per page transaction). */
  pageSize: number;
  clock: Clock;
}

type Ctx = HandlerContext<PlannerResources>;

/** Rows paged between two calls of ctx.heartbeat() (itself throttled to one per second). */
const HEARTBEAT_ROWS = 1_000;

export const statsKey = (campaignId: string, marketId: string, runId: string) =>
  `${campaignId}|${marketId}|${runId}`;

/** A row the run may draw: it has a fan, and no other run won it (this run's own winners stay candidates). */
export const isCandidate = (row: ScanRow, runId: string): row is ScanRow & { globalUserId: string } =>
  typeof row.globalUserId === 'string' &&
  row.globalUserId !== '' &&
  (row.verdict !== true || row.selectedRunId === runId);

const hasFan = (row: ScanRow) => typeof row.globalUserId === 'string' && row.globalUserId !== '';

export const thresholdOf = (c: Candidate): SelectionThreshold => ({
  globalUserId: c.globalUserId,
  score: typeof c.score === 'number' ? c.score : null,
  drawKey: c.drawKey,
});

const thresholdCandidate = (t: SelectionThreshold): Candidate => ({
  globalUserId: t.globalUserId,
  drawKey: t.drawKey,
  ...(typeof t.score === 'number' ? { score: t.score } : {}),
});

export interface RankedMarket {
  total: number;
  /** Rows without a globalUserId (FAILED). */
  rejected: number;
  candidates: number;
  /** The best `winners` candidates, best first. */
  ranked: Candidate[];
  /** The last _id of each page of `pageSize` rows of the scan (the last page may be shorter). */
  pageEnds: string[];
}

/** One pass over the market's rows: counts, the top N in a bounded heap, the page ends. */
export async function rankMarket(
  rows: AsyncIterable<ScanRow>,
  o: { seed: string; runId: string; winners: number; pageSize: number; heartbeat?: () => Promise<void> },
): Promise<RankedMarket> {
  const top = new TopN(o.winners);
  const pageEnds: string[] = [];
  let total = 0;
  let rejected = 0;
  let candidates = 0;
  let lastId: string | undefined;
  for await (const row of rows) {
    total++;
    lastId = row._id;
    if (total % o.pageSize === 0) pageEnds.push(row._id);
    if (total % HEARTBEAT_ROWS === 0) await o.heartbeat?.();
    if (!hasFan(row)) {
      rejected++;
      continue;
    }
    if (!isCandidate(row, o.runId)) continue;
    candidates++;
    // A row whose score alone ranks it after the worst kept cannot enter: no HMAC (nor its garbage)
    // for most rows of a scored market.
    const worst = top.worst;
    if (worst && scoreOrder(row.score, worst) > 0) continue;
    top.offer(candidate(o.seed, { globalUserId: row.globalUserId, score: row.score ?? null }));
  }
  if (lastId !== undefined && total % o.pageSize !== 0) pageEnds.push(lastId);
  return { total, rejected, candidates, ranked: top.ranked(), pageEnds };
}

/** Checks a page record's fields (it comes from the topic): a clear error naming the field. */
export function validatePage(page: SelectionPage): void {
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  if (!int(page.pages) || page.pages < 1)
    throw new ValidationError('page.pages', `expected an integer ≥ 1, got ${page.pages}`);
  if (!int(page.index) || page.index < 0 || page.index >= page.pages)
    throw new ValidationError('page.index', `expected an integer in [0, ${page.pages}), got ${page.index}`);
  if (typeof page.untilId !== 'string' || page.untilId === '')
    throw new ValidationError('page.untilId', 'expected the _id of a scoring row');
  if (page.afterId !== null && (typeof page.afterId !== 'string' || page.afterId === ''))
    throw new ValidationError('page.afterId', 'expected null or the _id of a scoring row');
  if (page.index > 0 && page.afterId === null)
    throw new ValidationError('page.afterId', `page ${page.index} must start after a row`);
  if (!int(page.firstBatch) || page.firstBatch < 0)
    throw new ValidationError('page.firstBatch', `expected an integer ≥ 0, got ${page.firstBatch}`);
  if (!int(page.batches) || page.batches < 1)
    throw new ValidationError('page.batches', `expected an integer ≥ 1, got ${page.batches}`);
  if (!page.threshold?.globalUserId || !page.threshold.drawKey)
    throw new ValidationError('page.threshold', 'expected the last winner (globalUserId and drawKey)');
}

export function plannerHandler(opts: PlannerOptions): Handler<SelectionRequest, PlannerResources> {
  return async (record, ctx) => {
    const req = record.value;
    // A request written before pages existed has no `page` field at all.
    const page = req.page ?? null;
    return page === null ? planRun(opts, req, ctx) : emitPage(opts, req, page, ctx);
  };
}

function outputsOf(opts: PlannerOptions, req: SelectionRequest, sharedCode: boolean) {
  const { campaignId, marketId, runId } = req;
  const key = statsKey(campaignId, marketId, runId);
  return {
    stats: (s: Partial<SelectionStats> & Pick<SelectionStats, 'status'>): OutputRecord => ({
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
    }),
    result: (batch: number, winners: SelectionResult['winners'], losers: string[]): OutputRecord => ({
      topic: opts.resultsTopic,
      key: `${key}|${batch}`,
      value: { runId, campaignId, marketId, batch, sharedCode, winners, losers } satisfies SelectionResult,
    }),
  };
}

/** The run's end: its state FINISHED, the seed revealed, stats FINISHED. */
async function finish(
  opts: PlannerOptions,
  req: SelectionRequest,
  ctx: Ctx,
  seed: SeedDoc,
  counts: { total: number; processed: number; failed: number },
): Promise<OutputRecord> {
  const { selection } = ctx.resources;
  const { campaignId, marketId, runId } = req;
  await selection.saveRun({
    campaignId,
    marketId,
    runId,
    status: 'FINISHED',
    winnersRequested: req.winners,
    ...counts,
  });
  await selection.revealSeed(campaignId);
  return outputsOf(opts, req, false).stats({
    status: 'FINISHED',
    ...counts,
    seedHash: seed.seedHash,
    seed: seed.seed,
  });
}

async function planRun(opts: PlannerOptions, req: SelectionRequest, ctx: Ctx): Promise<OutputRecord[]> {
  const { selection, codes } = ctx.resources;
  const { campaignId, marketId, runId } = req;
  const { stats } = outputsOf(opts, req, false);
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

  // 2. One pass: TOTAL, FAILED, the top N in bounded memory, the page ends. A pass over a million
  // rows takes minutes: the handler heartbeats as it pages, so the group keeps it.
  const t2 = Date.now();
  const seed = await selection.ensureSeed(campaignId);
  const m = await rankMarket(selection.marketRows(campaignId, marketId), {
    seed: seed.seed,
    runId,
    winners: req.winners,
    pageSize: opts.pageSize,
    heartbeat: ctx.heartbeat,
  });
  const { total, rejected, ranked } = m;
  const t3 = Date.now();

  // 3. Codes before any assignment.
  let paired: Array<{ globalUserId: string; code: string }> = [];
  const shared = market.ticketer === 'TM';
  const failedCounts = { total, failed: rejected, seedHash: seed.seedHash };
  if (ranked.length > 0) {
    if (shared) {
      const code = await codes.sharedCode(campaignId, marketId);
      if (!code) return fail(`codes: the TM market ${marketId} has no shared code in its pool`, failedCounts);
      paired = pairCodes(ranked, { shared: code });
    } else {
      const want = Math.max(ranked.length, opts.minReserve);
      // Thousands of claims (two writes each): heartbeats while the store works.
      const held = await beatWhile(ctx, codes.reserve(campaignId, marketId, want, runId));
      if (held.length < ranked.length) {
        await beatWhile(ctx, codes.release(campaignId, marketId, runId));
        return fail(
          `codes: ${ranked.length} winners need ${ranked.length} codes, the pool of ${marketId} had ${held.length}`,
          failedCounts,
        );
      }
      paired = pairCodes(ranked, { unique: held });
      if (held.length > paired.length)
        await beatWhile(
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
  const t4 = Date.now();

  // 4. The run decides every candidate: recorded before any result is written (the reporter's target).
  const losers = m.candidates - paired.length;
  const counts = { total, processed: paired.length, failed: rejected };
  await selection.saveRun({
    campaignId,
    marketId,
    runId,
    status: 'PROCESSING',
    winnersRequested: req.winners,
    ...counts,
    decided: m.candidates,
  });
  const { result } = outputsOf(opts, req, shared);
  const outputs: OutputRecord[] = [
    stats({ status: 'PROCESSING', total, failed: rejected, seedHash: seed.seedHash }),
  ];
  let batch = 0;
  for (let i = 0; i < paired.length; i += opts.batchSize)
    outputs.push(result(batch++, paired.slice(i, i + opts.batchSize), []));
  const last = ranked.at(-1);
  const pages = losers > 0 && last ? m.pageEnds.length : 0;
  const batchesPerPage = Math.ceil(opts.pageSize / opts.batchSize);
  for (let i = 0; i < pages; i++) {
    const page: SelectionPage = {
      index: i,
      pages,
      afterId: i === 0 ? null : m.pageEnds[i - 1]!,
      untilId: m.pageEnds[i]!,
      firstBatch: batch + i * batchesPerPage,
      batches: batchesPerPage,
      threshold: thresholdOf(last!),
      sharedCode: shared,
      ...counts,
    };
    outputs.push({
      topic: opts.requestsTopic,
      key: `${campaignId}|${marketId}`,
      value: { ...req, page } satisfies SelectionRequest,
    });
  }
  ctx.log.info(
    {
      campaignId,
      marketId,
      runId,
      total,
      candidates: m.candidates,
      winners: paired.length,
      losers,
      failed: rejected,
      winnerBatches: batch,
      pages,
      // Stage times (ms): the pass over the market (count, ranking, page ends), code reservation.
      stagesMs: { rank: t3 - t2, reserve: t4 - t3 },
    },
    'selection run ranked',
  );
  if (pages === 0) {
    outputs.push(await finish(opts, req, ctx, seed, counts));
    ctx.log.info({ campaignId, marketId, runId, ...counts, losers: 0, pages: 0 }, 'selection run planned');
  }
  return outputs;
}

async function emitPage(
  opts: PlannerOptions,
  req: SelectionRequest,
  page: SelectionPage,
  ctx: Ctx,
): Promise<OutputRecord[]> {
  validatePage(page);
  const { selection } = ctx.resources;
  const { campaignId, marketId, runId } = req;
  const t0 = Date.now();
  const seed = await selection.ensureSeed(campaignId);
  const threshold = thresholdCandidate(page.threshold);
  const { result } = outputsOf(opts, req, page.sharedCode);
  const outputs: OutputRecord[] = [];
  const lastBatch = page.firstBatch + page.batches - 1;
  let batch = page.firstBatch;
  let losers: string[] = [];
  let count = 0;
  let rows = 0;
  const scan = await selection.pageRows(campaignId, marketId, runId, page.afterId, page.untilId);
  for await (const row of scan.rows) {
    if (++rows % HEARTBEAT_ROWS === 0) await ctx.heartbeat?.();
    if (!isCandidate(row, runId)) continue;
    // A winner of this run ranks at or before the threshold; the HMAC only for a tie of scores.
    const byScore = scoreOrder(row.score, threshold);
    if (byScore < 0) continue;
    if (
      byScore === 0 &&
      compareCandidates(
        candidate(seed.seed, { globalUserId: row.globalUserId, score: row.score ?? null }),
        threshold,
      ) <= 0
    )
      continue;
    losers.push(row.globalUserId);
    count++;
    // The page owns `batches` batch numbers; should its rows have grown since the ranking, its
    // last batch takes the rest rather than a number of the next page.
    if (losers.length >= opts.batchSize && batch < lastBatch) {
      outputs.push(result(batch++, [], losers));
      losers = [];
    }
  }
  if (losers.length > 0) outputs.push(result(batch++, [], losers));
  const lastPage = page.index === page.pages - 1;
  ctx.log.info(
    {
      campaignId,
      marketId,
      runId,
      page: page.index,
      pages: page.pages,
      rows,
      losers: count,
      batches: batch - page.firstBatch,
      resumed: scan.resumed,
      ms: Date.now() - t0,
    },
    'selection losers page',
  );
  if (lastPage) {
    const counts = { total: page.total, processed: page.processed, failed: page.failed };
    outputs.push(await finish(opts, req, ctx, seed, counts));
    ctx.log.info({ campaignId, marketId, runId, ...counts, pages: page.pages }, 'selection run planned');
  }
  return outputs;
}
