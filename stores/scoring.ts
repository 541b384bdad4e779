import type { Collection, Db } from 'mongodb';
import { ensureIndexes, insertOrGuarded, isDuplicateKey } from './mongo.ts';

// Scoring rows: one per (campaign, market, fan) for eligible entries only, the input of selection
// (which ranks by score and records verdict, code and its run id) and of notifications (phone,
// locale). The replicator writes a fan's rows after the entry store applied that entry version.
//
// Never backwards: a per-(campaign, fan) marker holds the order of the last change applied
// (2 × version for a write, 2 × version + 1 for a deletion, so a deletion beats a write of the same
// version) and the markets that may have rows. A change first moves the marker with a guarded upsert
// adding its markets (stale → nothing is touched), then upserts the selected markets' rows with its
// version, deletes by _id the rows of the other listed markets with a lower version (the markets the
// fan dropped), and finally trims the marker's list to the selected markets. Every write addresses
// one _id: FerretDB scans a whole collection for a filter without an _id equality. Re-applying the same change is idempotent, so a crash between the
// marker and the rows is repaired by the replay. Selection's fields (verdict, code, selectedRunId)
// are left alone by those writes.

export interface ScoringRow {
  campaignId: string;
  marketId: string;
  globalUserId: string;
  score?: number;
  /** E.164 */
  phone?: string;
  locale: string;
  verdict?: boolean;
  code?: string;
  selectedRunId?: string;
  entryVersion: number;
}

export type ScoringInput = Pick<ScoringRow, 'marketId' | 'phone' | 'locale' | 'score'>;

export interface SelectionResult {
  globalUserId: string;
  verdict: boolean;
  code?: string;
}

export interface ScoringStore {
  init(): Promise<void>;
  /** Sets a fan's rows for this entry version: upserts `rows`, removes markets no longer selected. */
  replaceFanRows(
    campaignId: string,
    globalUserId: string,
    entryVersion: number,
    rows: readonly ScoringInput[],
  ): Promise<{ upserted: number; stale: number; removed: number }>;
  /** Removes a fan's rows up to this entry version (entry withdrawn or no longer eligible). */
  deleteFanRows(campaignId: string, globalUserId: string, entryVersion: number): Promise<number>;
  /** Rows of a market, highest score first (then globalUserId); `unselectedOnly` skips rows a run decided. */
  listRows(
    campaignId: string,
    marketId: string,
    options?: { unselectedOnly?: boolean; limit?: number; skip?: number },
  ): Promise<ScoringRow[]>;
  countRows(campaignId: string, marketId: string): Promise<number>;
  /** Records a selection run's verdicts; rows already decided by another run are left alone. Returns rows written. */
  recordSelection(
    campaignId: string,
    marketId: string,
    runId: string,
    results: readonly SelectionResult[],
  ): Promise<number>;
}

interface RowDoc extends ScoringRow {
  _id: string;
}

interface FanMarkerDoc {
  _id: string;
  order: number;
  /** Markets that may have rows of this fan (the current ones once the rows are in step). */
  markets?: string[];
}

const rowId = (campaignId: string, marketId: string, globalUserId: string) =>
  `${campaignId}:${marketId}:${globalUserId}`;

export class MongoScoringStore implements ScoringStore {
  private readonly rows: Collection<RowDoc>;
  private readonly fans: Collection<FanMarkerDoc>;

  constructor(db: Db) {
    this.rows = db.collection<RowDoc>('scoring_rows');
    this.fans = db.collection<FanMarkerDoc>('scoring_fans');
  }

  /**
   * Moves the fan's marker to `order` unless a later change got there first, and adds `markets` to
   * the markets it lists. Returns the markets that may have rows (the union), or null when stale;
   * undefined markets: a marker written before the marker listed them.
   */
  private async advance(
    campaignId: string,
    globalUserId: string,
    order: number,
    markets: readonly string[],
  ): Promise<{ markets: string[] | undefined } | null> {
    const _id = `${campaignId}:${globalUserId}`;
    // A new marker is inserted by _id (see insertOrGuarded: a guarded upsert of a new document
    // scans the whole collection on FerretDB).
    return insertOrGuarded<{ markets: string[] | undefined } | null>(
      () => this.fans.insertOne({ _id, order, markets: [...markets] }),
      async () => {
        try {
          const doc = await this.fans.findOneAndUpdate(
            { _id, order: { $lte: order } },
            { $set: { order }, $addToSet: { markets: { $each: [...markets] } } },
            { upsert: true, returnDocument: 'before' },
          );
          // No document before: the marker was created now. One without a list: written before lists existed.
          if (doc === null) return { markets: [...markets] };
          if (doc.markets === undefined) return { markets: undefined };
          return { markets: [...new Set([...doc.markets, ...markets])] };
        } catch (err) {
          if (isDuplicateKey(err)) return null;
          throw err;
        }
      },
      { markets: [...markets] },
    );
  }

  /** After the rows are in step: the marker lists only the current markets (unless a later change moved it). */
  private async settle(campaignId: string, globalUserId: string, order: number, markets: readonly string[]) {
    await this.fans.updateOne(
      { _id: `${campaignId}:${globalUserId}`, order },
      { $set: { markets: [...markets] } },
    );
  }

  /**
   * Removes the fan's rows of `markets` written by a version matching `version` — by _id, so the
   * server never scans the collection (FerretDB pushes down only _id). Without a market list (a
   * marker from before the list existed) it falls back to a query on the fan.
   */
  private async removeRows(
    campaignId: string,
    globalUserId: string,
    markets: readonly string[] | undefined,
    version: Record<string, number>,
  ): Promise<number> {
    if (markets === undefined) {
      const r = await this.rows.deleteMany({ campaignId, globalUserId, entryVersion: version });
      return r.deletedCount;
    }
    const deleted = await Promise.all(
      markets.map(
        async (m) =>
          (await this.rows.deleteOne({ _id: rowId(campaignId, m, globalUserId), entryVersion: version }))
            .deletedCount,
      ),
    );
    return deleted.reduce((a, b) => a + b, 0);
  }

  async init(): Promise<void> {
    await ensureIndexes(this.rows, [
      { key: { campaignId: 1, marketId: 1, globalUserId: 1 }, name: 'campaign_market_fan', unique: true },
      { key: { campaignId: 1, globalUserId: 1 }, name: 'campaign_fan' },
      { key: { campaignId: 1, marketId: 1, score: -1 }, name: 'campaign_market_score' },
    ]);
  }

  async replaceFanRows(
    campaignId: string,
    globalUserId: string,
    entryVersion: number,
    rows: readonly ScoringInput[],
  ): Promise<{ upserted: number; stale: number; removed: number }> {
    const selected = rows.map((r) => r.marketId);
    const marker = await this.advance(campaignId, globalUserId, entryVersion * 2, selected);
    if (marker === null) return { upserted: 0, stale: rows.length, removed: 0 };
    let upserted = 0;
    let stale = 0;
    await Promise.all(
      rows.map(async (row) => {
        const set: Record<string, unknown> = {
          campaignId,
          marketId: row.marketId,
          globalUserId,
          locale: row.locale,
          entryVersion,
        };
        const unset: Record<string, ''> = {};
        if (row.phone !== undefined) set.phone = row.phone;
        else unset.phone = '';
        if (row.score !== undefined) set.score = row.score;
        const _id = rowId(campaignId, row.marketId, globalUserId);
        const outcome = await insertOrGuarded(
          () => this.rows.insertOne({ _id, ...set } as RowDoc),
          async () => {
            try {
              const r = await this.rows.updateOne(
                { _id, entryVersion: { $lte: entryVersion } },
                Object.keys(unset).length ? { $set: set, $unset: unset } : { $set: set },
                { upsert: true },
              );
              return r.matchedCount + r.upsertedCount > 0 ? 'applied' : 'stale';
            } catch (err) {
              if (!isDuplicateKey(err)) throw err;
              return 'stale';
            }
          },
        );
        if (outcome === 'applied') upserted++;
        else stale++;
      }),
    );
    const dropped = marker.markets?.filter((m) => !selected.includes(m));
    if (dropped !== undefined && dropped.length === 0) return { upserted, stale, removed: 0 };
    const removed = await this.removeRows(campaignId, globalUserId, dropped, { $lt: entryVersion });
    await this.settle(campaignId, globalUserId, entryVersion * 2, selected);
    return { upserted, stale, removed };
  }

  async deleteFanRows(campaignId: string, globalUserId: string, entryVersion: number): Promise<number> {
    const marker = await this.advance(campaignId, globalUserId, entryVersion * 2 + 1, []);
    if (marker === null) return 0;
    const removed = await this.removeRows(campaignId, globalUserId, marker.markets, { $lte: entryVersion });
    await this.settle(campaignId, globalUserId, entryVersion * 2 + 1, []);
    return removed;
  }

  async listRows(
    campaignId: string,
    marketId: string,
    options: { unselectedOnly?: boolean; limit?: number; skip?: number } = {},
  ): Promise<ScoringRow[]> {
    const filter: Record<string, unknown> = { campaignId, marketId };
    if (options.unselectedOnly) filter.selectedRunId = { $exists: false };
    const docs = await this.rows
      .find(filter)
      .sort({ score: -1, globalUserId: 1 })
      .skip(options.skip ?? 0)
      .limit(options.limit ?? 1000)
      .toArray();
    return docs.map(({ _id, ...row }) => row);
  }

  countRows(campaignId: string, marketId: string): Promise<number> {
    return this.rows.countDocuments({ campaignId, marketId });
  }

  async recordSelection(
    campaignId: string,
    marketId: string,
    runId: string,
    results: readonly SelectionResult[],
  ): Promise<number> {
    const written = await Promise.all(
      results.map(async (r) => {
        const set: Record<string, unknown> = { verdict: r.verdict, selectedRunId: runId };
        if (r.code !== undefined) set.code = r.code;
        const res = await this.rows.updateOne(
          {
            _id: rowId(campaignId, marketId, r.globalUserId),
            $or: [{ selectedRunId: { $exists: false } }, { selectedRunId: runId }],
          },
          { $set: set },
        );
        return res.matchedCount;
      }),
    );
    return written.reduce((a, b) => a + b, 0);
  }
}
