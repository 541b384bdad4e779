import type { Collection, Db } from 'mongodb';
import { mapLimit, retried } from '../stores/codes.ts';
import { ensureIndexes, isDuplicateKey } from '../stores/mongo.ts';
import { generateSeed, seedHashOf } from './draw.ts';
import { PagedScans, type PageScan, type ScanRow } from './scan.ts';

// Selection's MongoDB state, every write single-document and idempotent (FerretDB has no
// multi-document transactions):
//   selection_seeds   one per campaign: the secret seed, created once (insert-if-absent) at close
//   selection_runs    one per (campaign, market, run): status and counts, for ordering waves (audit)
//   verdict_counts    one per (campaign, market, run, batch): what the saver reported, summed by the reporter
//   scoring_rows      (owned by stores/scoring.ts) the verdict, code and run written by the saver

export interface SeedDoc {
  _id: string;
  seed: string;
  seedHash: string;
  createdAt: string;
  /** Set when the first run of the campaign finished: the seed is public from then on. */
  revealedAt?: string;
}

export interface RunDoc {
  _id: string;
  campaignId: string;
  marketId: string;
  runId: string;
  status: 'PROCESSING' | 'FINISHED' | 'FAILED';
  winnersRequested: number;
  total: number;
  processed: number;
  failed: number;
  startedAt: string;
  updatedAt: string;
  reason?: string;
  /** Fans this run decides (winners + losers), set once it ranked the market (before its results). */
  decided?: number;
}

interface CountDoc {
  _id: string;
  campaignId: string;
  marketId: string;
  runId: string;
  batch: number;
  winners: number;
  losers: number;
  skipped: number;
}

/**
 * Rows per getMore of a market scan: ~100 bytes each with the planner's projection, so a batch
 * is ~0.5 MB on the wire and in the driver (the planner's memory does not grow with the market).
 */
export const SCAN_BATCH = 5000;

const rowId = (c: string, m: string, g: string) => `${c}:${m}:${g}`;
const runKey = (c: string, m: string, r: string) => `${c}:${m}:${r}`;

export class SelectionStore {
  readonly seeds: Collection<SeedDoc>;
  readonly runs: Collection<RunDoc>;
  readonly counts: Collection<CountDoc>;
  readonly rows: Collection<Record<string, unknown> & { _id: string }>;
  /** The planner's scans of a market: the ranking pass, then its pages of losers (one cursor kept between pages). */
  private readonly scans: PagedScans;

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.seeds = db.collection<SeedDoc>('selection_seeds');
    this.runs = db.collection<RunDoc>('selection_runs');
    this.counts = db.collection<CountDoc>('verdict_counts');
    this.rows = db.collection('scoring_rows');
    this.scans = new PagedScans((campaignId, marketId) => {
      // The same query (no sort) for every scan of a market, so every scan has the same order.
      const cursor = this.rows
        .find(
          { campaignId, marketId },
          { projection: { _id: 1, globalUserId: 1, score: 1, verdict: 1, selectedRunId: 1 } },
        )
        .batchSize(SCAN_BATCH);
      return {
        next: () => cursor.next() as Promise<ScanRow | null>,
        close: () => cursor.close(),
      };
    });
  }

  async init(): Promise<void> {
    await ensureIndexes(this.runs, [
      { key: { campaignId: 1, marketId: 1, startedAt: 1 }, name: 'market_started' },
    ]);
    await ensureIndexes(this.counts, [{ key: { campaignId: 1, marketId: 1, runId: 1 }, name: 'run' }]);
  }

  /** The campaign's seed, generated on first call (at close) and never replaced. */
  async ensureSeed(campaignId: string): Promise<SeedDoc> {
    const seed = generateSeed();
    try {
      await retried(() =>
        this.seeds.updateOne(
          { _id: campaignId },
          { $setOnInsert: { seed, seedHash: seedHashOf(seed), createdAt: this.now().toISOString() } },
          { upsert: true },
        ),
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const doc = await this.seeds.findOne({ _id: campaignId });
    if (!doc) throw new Error(`seed of campaign ${campaignId} vanished`);
    return doc;
  }

  getSeed(campaignId: string): Promise<SeedDoc | null> {
    return this.seeds.findOne({ _id: campaignId });
  }

  async revealSeed(campaignId: string): Promise<void> {
    await retried(() =>
      this.seeds.updateOne(
        { _id: campaignId, revealedAt: { $exists: false } },
        { $set: { revealedAt: this.now().toISOString() } },
      ),
    );
  }

  /** Records a run's state; the first write fixes startedAt (the order of waves). */
  async saveRun(run: Omit<RunDoc, '_id' | 'startedAt' | 'updatedAt'>): Promise<void> {
    const at = this.now().toISOString();
    const _id = runKey(run.campaignId, run.marketId, run.runId);
    try {
      await retried(() =>
        this.runs.updateOne(
          { _id },
          { $set: { ...run, updatedAt: at }, $setOnInsert: { startedAt: at } },
          { upsert: true },
        ),
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      await retried(() => this.runs.updateOne({ _id }, { $set: { ...run, updatedAt: at } }));
    }
  }

  /** Runs of a market in the order they started. */
  listRuns(campaignId: string, marketId: string): Promise<RunDoc[]> {
    return this.runs.find({ campaignId, marketId }).sort({ startedAt: 1, runId: 1 }).toArray();
  }

  countRows(campaignId: string, marketId: string): Promise<number> {
    return this.rows.countDocuments({ campaignId, marketId });
  }

  /** Every row of a market in scan order, with what the draw needs (the planner's ranking pass). */
  marketRows(campaignId: string, marketId: string): AsyncGenerator<ScanRow> {
    return this.scans.all(campaignId, marketId);
  }

  /**
   * The market's rows after `afterId` up to `untilId` (a page of the planner's run `runId`), in
   * the order of marketRows; the cursor of a run's page is kept for its next page (selection/scan.ts).
   */
  pageRows(
    campaignId: string,
    marketId: string,
    runId: string,
    afterId: string | null,
    untilId: string,
  ): Promise<PageScan> {
    return this.scans.page(runKey(campaignId, marketId, runId), campaignId, marketId, afterId, untilId);
  }

  /** Closes the cursors kept between pages. */
  close(): Promise<void> {
    return this.scans.closeAll();
  }

  /** Every row of a market with its verdict (for the audit). */
  allRows(campaignId: string, marketId: string) {
    return this.rows
      .find(
        { campaignId, marketId },
        { projection: { _id: 0, globalUserId: 1, score: 1, verdict: 1, code: 1, selectedRunId: 1 } },
      )
      .batchSize(5000);
  }

  /**
   * The saver's write to the entry store: winners get verdict true, their code and the run; losers
   * verdict false and the run. Guards: a winner overwrites no winner of another run; a loser
   * overwrites nothing another run decided. Returns rows written or already holding this result.
   */
  async recordVerdicts(
    campaignId: string,
    marketId: string,
    runId: string,
    winners: ReadonlyArray<{ globalUserId: string; code: string }>,
    losers: readonly string[],
    options: { concurrency?: number; onProgress?: () => unknown } = {},
  ): Promise<{ written: number; skipped: number }> {
    const { concurrency = 16, onProgress } = options;
    const work: Array<{ globalUserId: string; code?: string }> = [
      ...winners,
      ...losers.map((globalUserId) => ({ globalUserId })),
    ];
    const results = await mapLimit(work, concurrency, async (w): Promise<number> => {
      const won = w.code !== undefined;
      const _id = rowId(campaignId, marketId, w.globalUserId);
      // Upstream FerretDB serves only a filter of `_id` alone from its key (any other filter scans
      // the collection: seconds a write on a 50,000-row market), so the guard is read by _id and the
      // write goes by _id. One saver writes a market's results at a time (they are keyed by
      // market); a fenced zombie of the same run writes the same values.
      const row = await retried(() =>
        this.rows.findOne({ _id }, { projection: { selectedRunId: 1, verdict: 1, code: 1 } }),
      );
      if (row === null) return 0;
      const free = row.selectedRunId === undefined || row.selectedRunId === runId;
      if (!(free || (won && row.verdict === false))) return 0;
      const already =
        row.selectedRunId === runId &&
        row.verdict === won &&
        (won ? row.code === w.code : row.code === undefined);
      if (!already)
        await retried(() =>
          this.rows.updateOne(
            { _id },
            won
              ? { $set: { verdict: true, code: w.code, selectedRunId: runId } }
              : { $set: { verdict: false, selectedRunId: runId }, $unset: { code: '' } },
          ),
        );
      await onProgress?.();
      return 1;
    });
    const written = results.reduce((a, b) => a + b, 0);
    return { written, skipped: work.length - written };
  }

  /**
   * What the reporter waits for: the run's winners and every fan it decides. The planner records
   * them when it has ranked the run, before any of its results is written (its losers go out in
   * pages afterwards), so every verdict count arrives after them.
   */
  async expectedVerdicts(campaignId: string, marketId: string, runId: string) {
    const run = await this.runs.findOne({ _id: runKey(campaignId, marketId, runId) });
    if (run === null || run.status === 'FAILED' || run.decided === undefined) return null;
    return { winners: run.processed, decided: run.decided };
  }

  /** Sets scores on existing scoring rows (idempotent); returns how many rows matched. */
  async setScores(
    campaignId: string,
    marketId: string,
    scores: ReadonlyArray<{ globalUserId: string; score: number }>,
  ) {
    const matched = await mapLimit(scores, 16, async (s) => {
      const r = await retried(() =>
        this.rows.updateOne(
          { _id: rowId(campaignId, marketId, s.globalUserId) },
          { $set: { score: s.score } },
        ),
      );
      return r.matchedCount;
    });
    const found = matched.reduce((a, b) => a + b, 0);
    return { updated: found, missing: scores.length - found };
  }

  async saveCount(count: Omit<CountDoc, '_id'>): Promise<void> {
    const _id = `${runKey(count.campaignId, count.marketId, count.runId)}:${count.batch}`;
    await retried(() => this.counts.updateOne({ _id }, { $set: count }, { upsert: true })).catch((err) => {
      if (!isDuplicateKey(err)) throw err;
    });
  }

  async sumCounts(campaignId: string, marketId: string, runId: string) {
    const docs = await this.counts.find({ campaignId, marketId, runId }).toArray();
    return docs.reduce(
      (a, d) => ({
        winners: a.winners + d.winners,
        losers: a.losers + d.losers,
        skipped: a.skipped + d.skipped,
        batches: a.batches + 1,
      }),
      { winners: 0, losers: 0, skipped: 0, batches: 0 },
    );
  }
}
