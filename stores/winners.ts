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
//   - a campaign's winners with a code, paged by a range on _id, and their profiles (the email export).
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
  /** A page of the campaign's winners with a code (any market), from cursor `after` ('' = the start). */
  campaignWinners(campaignId: string, after: string, limit: number): Promise<WinnerPage>;
  profiles(
    globalUserIds: readonly string[],
  ): Promise<Map<string, Pick<UserProfile, 'email' | 'firstName' | 'lastName'>>>;
}

export interface WinnerPage {
  rows: WinnerRow[];
  /** The cursor of the next page; null when this was the last. */
  next: string | null;
}

interface RowDoc extends ScoringRow {
  _id: string;
}
interface UserDoc extends UserProfile {
  _id: string;
}

const PLUS_ONE = /^\+1\d{10}$/;

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

  countReminderEligible(campaignId: string, marketId: string): Promise<number> {
    return this.rows.countDocuments(this.eligibleFilter(campaignId, marketId));
  }

  async *reminderFans(campaignId: string, marketId: string, pageSize: number): AsyncIterable<ReminderFan[]> {
    const cursor = this.rows
      .find(this.eligibleFilter(campaignId, marketId), {
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

  async campaignWinners(campaignId: string, after: string, limit: number): Promise<WinnerPage> {
    // _id is `<campaign>:<market>:<fan>`: one campaign's rows are a contiguous, ordered range.
    const docs = await this.rows
      .find(
        { _id: { $gt: after === '' ? `${campaignId}:` : after, $lt: `${campaignId};` }, verdict: true },
        { projection: { _id: 1, globalUserId: 1, marketId: 1, code: 1 } },
      )
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
    return {
      rows: docs
        .filter((d) => typeof d.code === 'string' && d.code !== '')
        .map((d) => ({ globalUserId: d.globalUserId, marketId: d.marketId, code: d.code! })),
      next: docs.length < limit ? null : docs.at(-1)!._id,
    };
  }

  async profiles(globalUserIds: readonly string[]) {
    const docs = await this.users
      .find({ _id: { $in: [...globalUserIds] } }, { projection: { email: 1, firstName: 1, lastName: 1 } })
      .toArray();
    return new Map(
      docs.map((d) => [d._id, { email: d.email, firstName: d.firstName, lastName: d.lastName }]),
    );
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

  async campaignWinners(campaignId: string, after: string, limit: number): Promise<WinnerPage> {
    const id = (r: ScoringRow) => `${r.campaignId}:${r.marketId}:${r.globalUserId}`;
    const page = this.rows
      .filter((r) => r.campaignId === campaignId && r.verdict === true && id(r) > after)
      .sort((a, b) => (id(a) < id(b) ? -1 : 1))
      .slice(0, limit);
    return {
      rows: page
        .filter((r) => r.code)
        .map((r) => ({ globalUserId: r.globalUserId, marketId: r.marketId, code: r.code! })),
      next: page.length < limit ? null : id(page.at(-1)!),
    };
  }

  async profiles(globalUserIds: readonly string[]) {
    return new Map(globalUserIds.filter((g) => this.users.has(g)).map((g) => [g, this.users.get(g)!]));
  }
}
