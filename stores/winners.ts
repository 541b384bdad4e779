import type { Collection, Db, Filter } from 'mongodb';
import type { ReminderFan } from '../notifications/reminder-records.ts';
import type { ScoringRow } from './scoring.ts';
import type { UserProfile } from './users.ts';

// Read-only queries of the notification jobs over selection's results (the scoring rows, where
// selection writes verdict and code) and the user store (email, names):
//   - the reminder-eligible winners of a market, counted (plan-sends) and streamed in pages from
//     one server-side cursor (the generator: never a whole market in memory, and no query re-run
//     per page: on the local FerretDB, range queries of 2,000 read 5,000 rows in 4.2 s, one
//     cursor 10,000 in 2.5 s, one measurement on a loaded machine);
//   - a campaign's winners with a code, streamed in pages from one server-side cursor too, and
//     their profiles (the email export). Not pages of range queries: FerretDB on SQLite pushes
//     down only an _id equality, so every other query scans the whole collection (and sorts it in
//     memory for a sort): one query per page made the export quadratic in the campaign's size.
//     The export sorts its rows itself.
// The database does the coarse filtering (verdict, code, +1 phone); notifications/eligibility.ts
// stays the one definition, applied again to every row.

export interface WinnerRow {
  globalUserId: string;
  marketId: string;
  code: string;
}

export interface WinnerQueries {
  countReminderEligible(campaignId: string, marketId: string): Promise<number>;
  /**
   * The eligible fans of a market through one server-side cursor, in pages of `pageSize`: never
   * the whole market in memory, and no query re-run per page.
   */
  reminderFans(campaignId: string, marketId: string, pageSize: number): AsyncIterable<ReminderFan[]>;
  /** The campaign's winners with a code (any market) through one server-side cursor, in pages; no order. */
  campaignWinners(campaignId: string, pageSize: number): AsyncIterable<WinnerRow[]>;
  profiles(
    globalUserIds: readonly string[],
  ): Promise<Map<string, Pick<UserProfile, 'email' | 'firstName' | 'lastName'>>>;
}

interface RowDoc extends ScoringRow {
  _id: string;
}
interface UserDoc extends UserProfile {
  _id: string;
}

const PLUS_ONE = /^\+1\d{10}$/;
/** Profile lookups in flight for the export. */
const PROFILE_LOOKUPS = 16;

const toFan = (d: ScoringRow): ReminderFan => ({
  globalUserId: d.globalUserId,
  verdict: d.verdict ?? null,
  phoneNumber: d.phone ?? null,
  code: d.code ? { marketId: d.marketId, value: d.code } : null,
  locale: d.locale ?? null,
});

export class MongoWinnerQueries implements WinnerQueries {
  private readonly rows: Collection<RowDoc>;
  private readonly users: Collection<UserDoc>;

  constructor(db: Db) {
    this.rows = db.collection<RowDoc>('scoring_rows');
    this.users = db.collection<UserDoc>('users');
  }

  private eligibleFilter(campaignId: string, marketId: string): Filter<RowDoc> {
    return {
      campaignId,
      marketId,
      verdict: true,
      code: { $exists: true, $ne: '' },
      phone: { $regex: PLUS_ONE },
    };
  }

  private winnerFilter(campaignId: string, marketId: string): Filter<RowDoc> {
    return { campaignId, marketId, verdict: true, code: { $exists: true, $ne: '' } };
  }

  countReminderEligible(campaignId: string, marketId: string): Promise<number> {
    return this.rows.countDocuments(this.eligibleFilter(campaignId, marketId));
  }

  async *reminderFans(campaignId: string, marketId: string, pageSize: number): AsyncIterable<ReminderFan[]> {
    const cursor = this.rows
      // Without the phone's $regex: FerretDB compiles a filter's regex again for every document,
      // and the generator applies the full eligibility rule to every row anyway (a non-+1 phone
      // counts as ineligible there).
      .find(this.winnerFilter(campaignId, marketId), {
        projection: { globalUserId: 1, marketId: 1, verdict: 1, code: 1, phone: 1, locale: 1 },
      })
      .batchSize(pageSize);
    try {
      let page: ReminderFan[] = [];
      for await (const d of cursor) {
        page.push(toFan(d));
        if (page.length === pageSize) {
          yield page;
          page = [];
        }
      }
      if (page.length > 0) yield page;
    } finally {
      await cursor.close();
    }
  }

  async *campaignWinners(campaignId: string, pageSize: number): AsyncIterable<WinnerRow[]> {
    const cursor = this.rows
      .find(
        { campaignId, verdict: true, code: { $exists: true, $ne: '' } },
        { projection: { globalUserId: 1, marketId: 1, code: 1 } },
      )
      .batchSize(pageSize);
    try {
      let page: WinnerRow[] = [];
      for await (const d of cursor) {
        if (typeof d.code !== 'string' || d.code === '') continue;
        page.push({ globalUserId: d.globalUserId, marketId: d.marketId, code: d.code });
        if (page.length === pageSize) {
          yield page;
          page = [];
        }
      }
      if (page.length > 0) yield page;
    } finally {
      await cursor.close();
    }
  }

  async profiles(globalUserIds: readonly string[]) {
    // One _id equality per fan, PROFILE_LOOKUPS in flight: FerretDB on SQLite pushes down only an
    // _id equality; an `$in` scans the whole user store for every page of the export.
    const found = new Map<string, Pick<UserProfile, 'email' | 'firstName' | 'lastName'>>();
    const ids = [...new Set(globalUserIds)];
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const d = await this.users.findOne(
          { _id: id },
          { projection: { email: 1, firstName: 1, lastName: 1 } },
        );
        if (d) found.set(id, { email: d.email, firstName: d.firstName, lastName: d.lastName });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROFILE_LOOKUPS, ids.length) }, worker));
    return found;
  }
}

/** In-memory twin for handler tests, over scoring rows and profiles. */
export class MemoryWinnerQueries implements WinnerQueries {
  constructor(
    readonly rows: ScoringRow[] = [],
    readonly users: Map<string, Pick<UserProfile, 'email' | 'firstName' | 'lastName'>> = new Map(),
  ) {}

  private eligible(campaignId: string, marketId: string) {
    return this.rows
      .filter(
        (r) =>
          r.campaignId === campaignId &&
          r.marketId === marketId &&
          r.verdict === true &&
          !!r.code &&
          PLUS_ONE.test(r.phone ?? ''),
      )
      .sort((a, b) => (a.globalUserId < b.globalUserId ? -1 : 1));
  }

  async countReminderEligible(campaignId: string, marketId: string) {
    return this.eligible(campaignId, marketId).length;
  }

  async *reminderFans(campaignId: string, marketId: string, pageSize: number) {
    const fans = this.eligible(campaignId, marketId).map(toFan);
    for (let i = 0; i < fans.length; i += pageSize) yield fans.slice(i, i + pageSize);
  }

  async *campaignWinners(campaignId: string, pageSize: number) {
    const rows = this.rows
      .filter((r) => r.campaignId === campaignId && r.verdict === true && r.code)
      .map((r) => ({ globalUserId: r.globalUserId, marketId: r.marketId, code: r.code! }));
    for (let i = 0; i < rows.length; i += pageSize) yield rows.slice(i, i + pageSize);
  }

  async profiles(globalUserIds: readonly string[]) {
    return new Map(globalUserIds.filter((g) => this.users.has(g)).map((g) => [g, this.users.get(g)!]));
  }
}
