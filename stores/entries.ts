import type { Collection, Db } from 'mongodb';
import { ValidationError } from '../lib/errors.ts';
import { ensureIndexes, type GuardedOutcome, insertOrGuarded, isDuplicateKey } from './mongo.ts';

// The entry store (the spec's Entry service): one document per (campaign, fan).
//
// It never goes backwards. Every write carries the entry's version (monotonic per DynamoDB item,
// see registration/entry-table.ts) and only applies when the stored version is lower, so an older
// change that arrives after a newer one changes nothing and a replay is safe. The guard sits in the
// filter of an upsert: when a newer document exists the filter misses, the upsert tries to insert
// the same _id and the unique key refuses it (duplicate key = stale). A deletion leaves a tombstone
// (personal fields removed) holding the deleting version, so a late older upsert cannot bring a
// withdrawn entry back.

export const MAX_ENTRY_BATCH = 25;

export interface EntryRecord {
  campaignId: string;
  globalUserId: string;
  email: string;
  firstName?: string;
  lastName?: string;
  /** E.164 */
  phone?: string;
  postalCode?: string;
  locale: string;
  markets: string[];
  marketing: { emailOptIn: boolean; smsOptIn: boolean };
  doTransfer?: boolean;
  /** The linked campaign this entry was transferred from. */
  linkedFrom?: string;
  /** Monotonic per (fan, campaign); the guard of every write. */
  version: number;
  date: { updated: string; fanModified?: string };
}

export interface EntryDeletion {
  globalUserId: string;
  /** Version of the entry being deleted (the stream's old image); later versions survive. */
  version: number;
  deletedAt?: string;
}

export interface BatchOutcome {
  /** globalUserIds whose change was applied. */
  applied: string[];
  /** globalUserIds skipped because the store already held the same or a newer version. */
  stale: string[];
}

export interface EntryStore {
  init(): Promise<void>;
  /** The spec's `POST /campaignId/entries`: at most 25 entries of one campaign. */
  upsertEntries(campaignId: string, entries: readonly EntryRecord[]): Promise<BatchOutcome>;
  /** The spec's `DELETE /campaignId/entries`: at most 25 deletions of one campaign. */
  deleteEntries(campaignId: string, deletions: readonly EntryDeletion[]): Promise<BatchOutcome>;
  getEntry(campaignId: string, globalUserId: string): Promise<EntryRecord | undefined>;
  countEntries(campaignId: string): Promise<number>;
}

export function checkBatch(campaignId: string, items: ReadonlyArray<object>): void {
  if (items.length > MAX_ENTRY_BATCH)
    throw new ValidationError('entries', `at most ${MAX_ENTRY_BATCH} per call (got ${items.length})`);
  items.forEach((item, i) => {
    const e = item as { campaignId?: string };
    if (e.campaignId !== undefined && e.campaignId !== campaignId)
      throw new ValidationError(`entries[${i}].campaignId`, `belongs to ${e.campaignId}, not ${campaignId}`);
  });
}

interface EntryDoc extends Partial<EntryRecord> {
  _id: string;
  campaignId: string;
  globalUserId: string;
  version: number;
  deleted?: boolean;
  deletedAt?: string;
}

const key = (campaignId: string, globalUserId: string) => `${campaignId}:${globalUserId}`;

export class MongoEntryStore implements EntryStore {
  private readonly entries: Collection<EntryDoc>;

  constructor(db: Db) {
    this.entries = db.collection<EntryDoc>('entries');
  }

  async init(): Promise<void> {
    await ensureIndexes(this.entries, [
      { key: { campaignId: 1, globalUserId: 1 }, name: 'campaign_fan', unique: true },
      { key: { campaignId: 1, deleted: 1 }, name: 'campaign_live' },
    ]);
  }

  async upsertEntries(campaignId: string, entries: readonly EntryRecord[]): Promise<BatchOutcome> {
    checkBatch(campaignId, entries);
    const outcomes = await Promise.all(
      entries.map((e) =>
        this.guardedReplace(
          { _id: key(campaignId, e.globalUserId), version: { $lt: e.version } },
          { ...e, _id: key(campaignId, e.globalUserId), campaignId },
        ).then((o) => [e.globalUserId, o] as const),
      ),
    );
    return split(outcomes);
  }

  async deleteEntries(campaignId: string, deletions: readonly EntryDeletion[]): Promise<BatchOutcome> {
    checkBatch(campaignId, deletions);
    const outcomes = await Promise.all(
      deletions.map((d) =>
        this.guardedReplace(
          { _id: key(campaignId, d.globalUserId), version: { $lte: d.version } },
          {
            _id: key(campaignId, d.globalUserId),
            campaignId,
            globalUserId: d.globalUserId,
            version: d.version,
            deleted: true,
            deletedAt: d.deletedAt ?? new Date().toISOString(),
          },
        ).then((o) => [d.globalUserId, o] as const),
      ),
    );
    return split(outcomes);
  }

  async getEntry(campaignId: string, globalUserId: string): Promise<EntryRecord | undefined> {
    const doc = await this.entries.findOne({ _id: key(campaignId, globalUserId) });
    if (!doc || doc.deleted) return undefined;
    const { _id, deleted: _d, deletedAt: _a, ...entry } = doc;
    return entry as EntryRecord;
  }

  countEntries(campaignId: string): Promise<number> {
    return this.entries.countDocuments({ campaignId, deleted: { $ne: true } });
  }

  private guardedReplace(filter: Record<string, unknown>, doc: EntryDoc): Promise<GuardedOutcome> {
    return insertOrGuarded(
      () => this.entries.insertOne(doc),
      () => this.replaceIf(filter, doc),
    );
  }

  private async replaceIf(filter: Record<string, unknown>, doc: EntryDoc): Promise<GuardedOutcome> {
    try {
      const r = await this.entries.replaceOne(filter, doc, { upsert: true });
      return r.matchedCount + r.upsertedCount > 0 ? 'applied' : 'stale';
    } catch (err) {
      if (isDuplicateKey(err)) return 'stale';
      throw err;
    }
  }
}

export function split(outcomes: ReadonlyArray<readonly [string, GuardedOutcome]>): BatchOutcome {
  const out: BatchOutcome = { applied: [], stale: [] };
  for (const [id, o] of outcomes) out[o].push(id);
  return out;
}
