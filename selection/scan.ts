import { PermanentError } from '../lib/errors.ts';

// A market's scoring rows in scan order, read in pages that may be handled in different handler
// calls (the planner's pages of losers, one transaction each), with the cursor kept open between
// them.
//
// Scan order: the store's order for the same query without a sort (FerretDB on SQLite: the table's
// row order, which an update does not change; MongoDB: the collection scan's or the index's). A
// sort is not an option here: FerretDB sorts in memory (its own process would hold the market) and
// pushes no range filter down, so "the rows after _id X" costs a scan of the collection whatever
// the query. So a page is named by the rows it starts after and ends with, and
//   - the next page of a run resumes the cursor the previous page left parked (the usual case: the
//     planner handles a run's pages one after the other);
//   - any other page (a redelivery, a restart, a replay, a parked cursor gone) opens a new scan and
//     skips to its start row: one extra pass over the market, same rows.

/** The fields of a scoring row the draw reads. */
export interface ScanRow {
  _id: string;
  globalUserId?: string;
  score?: number | null;
  verdict?: boolean;
  selectedRunId?: string;
}

export interface RowCursor {
  /** The next row, or null after the last. */
  next(): Promise<ScanRow | null>;
  close(): Promise<void>;
}

export interface PageScan {
  /** True when the page continued the cursor its previous page left parked (no new scan). */
  resumed: boolean;
  rows: AsyncGenerator<ScanRow>;
}

interface Parked {
  cursor: RowCursor;
  lastId: string;
  at: number;
}

export class PagedScans {
  private readonly parked = new Map<string, Parked>();

  constructor(
    private readonly open: (campaignId: string, marketId: string) => RowCursor,
    private readonly options: { maxParked?: number; idleMs?: number; now?: () => number } = {},
  ) {}

  /** Every row of the market, in scan order (the planner's ranking pass). */
  async *all(campaignId: string, marketId: string): AsyncGenerator<ScanRow> {
    const cursor = this.open(campaignId, marketId);
    try {
      for (let row = await cursor.next(); row !== null; row = await cursor.next()) yield row;
    } finally {
      await cursor.close().catch(() => {});
    }
  }

  /**
   * The rows after `afterId` (null: from the first) up to `untilId` included, in scan order. `key`
   * names the sequence of pages (a run): when the page ends on `untilId`, its cursor is parked
   * under `key` for a page that starts after `untilId`. A page left unfinished closes its cursor.
   * Throws a PermanentError when `afterId` is not a row of the market (the market changed since
   * the pages were cut).
   */
  async page(
    key: string,
    campaignId: string,
    marketId: string,
    afterId: string | null,
    untilId: string,
  ): Promise<PageScan> {
    await this.evictIdle();
    const held = this.parked.get(key);
    this.parked.delete(key);
    let cursor: RowCursor;
    let resumed = false;
    if (held && afterId !== null && held.lastId === afterId) {
      cursor = held.cursor;
      resumed = true;
    } else {
      if (held) await held.cursor.close().catch(() => {});
      cursor = this.open(campaignId, marketId);
    }
    const rows = this.pageRows(key, cursor, resumed ? null : afterId, untilId, campaignId, marketId);
    return { resumed, rows };
  }

  private async *pageRows(
    key: string,
    cursor: RowCursor,
    skipThrough: string | null,
    untilId: string,
    campaignId: string,
    marketId: string,
  ): AsyncGenerator<ScanRow> {
    let ended = false;
    try {
      if (skipThrough !== null) {
        let found = false;
        for (let row = await cursor.next(); row !== null; row = await cursor.next())
          if (row._id === skipThrough) {
            found = true;
            break;
          }
        if (!found)
          throw new PermanentError(
            `page.afterId: ${skipThrough} is not a scoring row of ${campaignId}/${marketId} (the market's rows changed since the run was ranked)`,
          );
      }
      for (let row = await cursor.next(); row !== null; row = await cursor.next()) {
        yield row;
        if (row._id === untilId) {
          ended = true;
          return;
        }
      }
    } finally {
      if (ended) this.park(key, { cursor, lastId: untilId, at: this.now() });
      else await cursor.close().catch(() => {});
    }
  }

  /** How many cursors are parked (for tests and logs). */
  get parkedCount(): number {
    return this.parked.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.parked.values()];
    this.parked.clear();
    await Promise.all(all.map((p) => p.cursor.close().catch(() => {})));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private park(key: string, p: Parked): void {
    this.parked.set(key, p);
    const max = this.options.maxParked ?? 8;
    for (const [k, old] of this.parked) {
      if (this.parked.size <= max) break;
      this.parked.delete(k);
      void old.cursor.close().catch(() => {});
    }
  }

  private async evictIdle(): Promise<void> {
    const idleMs = this.options.idleMs ?? 5 * 60_000;
    const now = this.now();
    for (const [k, p] of [...this.parked])
      if (now - p.at > idleMs) {
        this.parked.delete(k);
        await p.cursor.close().catch(() => {});
      }
  }
}
