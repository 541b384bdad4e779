import type { Collection, Db } from 'mongodb';
import { ValidationError } from '../lib/errors.ts';
import { type BatchOutcome, split } from './entries.ts';
import { ensureIndexes, type GuardedOutcome, insertOrGuarded, isDuplicateKey } from './mongo.ts';

// The user store (the spec's User service): the latest profile per fan. Like the entry store it
// never goes backwards: a profile only replaces one with a lower version.

export const MAX_USER_BATCH = 25;

export interface UserProfile {
  globalUserId: string;
  email: string;
  firstName?: string;
  lastName?: string;
  /** E.164 */
  phone?: string;
  postalCode?: string;
  locale?: string;
  marketing?: { emailOptIn: boolean; smsOptIn: boolean };
  /** Version of the change this profile came from (monotonic per fan and campaign entry). */
  version: number;
  updatedAt: string;
}

export interface UserStore {
  init(): Promise<void>;
  /** The spec's upsertUsers: at most 25 profiles. */
  upsertUsers(users: readonly UserProfile[]): Promise<BatchOutcome>;
  getUser(globalUserId: string): Promise<UserProfile | undefined>;
}

interface UserDoc extends UserProfile {
  _id: string;
}

export class MongoUserStore implements UserStore {
  private readonly users: Collection<UserDoc>;

  constructor(db: Db) {
    this.users = db.collection<UserDoc>('users');
  }

  async init(): Promise<void> {
    await ensureIndexes(this.users, [{ key: { email: 1 }, name: 'email' }]);
  }

  async upsertUsers(users: readonly UserProfile[]): Promise<BatchOutcome> {
    if (users.length > MAX_USER_BATCH)
      throw new ValidationError('users', `at most ${MAX_USER_BATCH} per call (got ${users.length})`);
    // Two changes of one fan in a batch: only the newest can win; keep it alone.
    const newest = new Map<string, UserProfile>();
    for (const u of users) {
      const prev = newest.get(u.globalUserId);
      if (!prev || prev.version < u.version) newest.set(u.globalUserId, u);
    }
    const outcomes = await Promise.all(
      users.map(async (u) => {
        if (newest.get(u.globalUserId) !== u) return [u.globalUserId, 'stale' as GuardedOutcome] as const;
        return [u.globalUserId, await this.guardedReplace(u)] as const;
      }),
    );
    return split(outcomes);
  }

  async getUser(globalUserId: string): Promise<UserProfile | undefined> {
    const doc = await this.users.findOne({ _id: globalUserId });
    if (!doc) return undefined;
    const { _id, ...user } = doc;
    return user;
  }

  private guardedReplace(u: UserProfile): Promise<GuardedOutcome> {
    return insertOrGuarded(
      () => this.users.insertOne({ ...u, _id: u.globalUserId } as UserDoc),
      () => this.replaceIfNewer(u),
    );
  }

  private async replaceIfNewer(u: UserProfile): Promise<GuardedOutcome> {
    try {
      const r = await this.users.replaceOne({ _id: u.globalUserId, version: { $lt: u.version } }, u, {
        upsert: true,
      });
      return r.matchedCount + r.upsertedCount > 0 ? 'applied' : 'stale';
    } catch (err) {
      if (isDuplicateKey(err)) return 'stale';
      throw err;
    }
  }
}
