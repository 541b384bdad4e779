import type { Collection, Db } from 'mongodb';
import type { Campaign } from '../campaigns/campaign.ts';
import type { DataRecord } from '../lib/data-records.ts';
import { ensureIndexes, isDuplicateKey } from './mongo.ts';

// The campaign store (the spec's Campaign service): campaigns with their markets and gates, the
// invite list, and each campaign's outbox of data.records.
//
// Outbox without transactions: the records a change emits are pushed onto the campaign document in
// the same single-document write as the change itself (MongoDB makes one document's update atomic),
// so a crash can lose neither one without the other. A relay (campaigns/outbox-relay.ts) publishes
// pending records and then removes exactly those it published with a version-guarded write.

export interface OutboxBatch {
  campaignId: string;
  version: number;
  records: DataRecord[];
}

export interface CampaignStore {
  /** Creates indexes (idempotent); call once at start. */
  init(): Promise<void>;
  get(campaignId: string): Promise<Campaign | undefined>;
  /** Inserts a new campaign with its outbox records; false when one with this id exists. */
  create(campaign: Campaign, outbox: readonly DataRecord[]): Promise<boolean>;
  /** Replaces the campaign if it is still at `expectedVersion` (compare-and-set); false otherwise. */
  update(campaign: Campaign, expectedVersion: number, outbox: readonly DataRecord[]): Promise<boolean>;
  /** Adds emails (already normalized) to the invite list; idempotent; returns how many were new. */
  addInvites(campaignId: string, emails: readonly string[]): Promise<number>;
  countInvites(campaignId: string): Promise<number>;
  listInvites(campaignId: string): Promise<string[]>;
  /** Campaigns with records waiting to be published, oldest change first. */
  pendingOutbox(limit: number): Promise<OutboxBatch[]>;
  /** Removes these published records from the campaign's outbox (records added since are kept). */
  removeFromOutbox(campaignId: string, sourceRecordIds: readonly string[]): Promise<void>;
}

interface CampaignDoc extends Campaign {
  _id: string;
  outbox: DataRecord[];
  outboxPending: boolean;
}

interface InviteDoc {
  _id: string;
  campaignId: string;
  email: string;
}

export class MongoCampaignStore implements CampaignStore {
  private readonly campaigns: Collection<CampaignDoc>;
  private readonly invites: Collection<InviteDoc>;

  constructor(db: Db) {
    this.campaigns = db.collection<CampaignDoc>('campaigns');
    this.invites = db.collection<InviteDoc>('campaign_invites');
  }

  async init(): Promise<void> {
    await ensureIndexes(this.campaigns, [{ key: { outboxPending: 1 }, name: 'outbox_pending' }]);
    await ensureIndexes(this.invites, [
      { key: { campaignId: 1, email: 1 }, name: 'campaign_email', unique: true },
    ]);
  }

  async get(campaignId: string): Promise<Campaign | undefined> {
    const doc = await this.campaigns.findOne({ _id: campaignId });
    return doc ? toCampaign(doc) : undefined;
  }

  async create(campaign: Campaign, outbox: readonly DataRecord[]): Promise<boolean> {
    try {
      await this.campaigns.insertOne({
        ...campaign,
        _id: campaign.id,
        outbox: [...outbox],
        outboxPending: outbox.length > 0,
      });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async update(campaign: Campaign, expectedVersion: number, outbox: readonly DataRecord[]): Promise<boolean> {
    const { closedAt, ...rest } = campaign;
    const result = await this.campaigns.updateOne(
      { _id: campaign.id, version: expectedVersion },
      {
        $set: { ...rest, ...(closedAt ? { closedAt } : {}), outboxPending: true },
        ...(closedAt ? {} : { $unset: { closedAt: '' } }),
        $push: { outbox: { $each: [...outbox] } },
      },
    );
    return result.matchedCount === 1;
  }

  async addInvites(campaignId: string, emails: readonly string[]): Promise<number> {
    let added = 0;
    const unique = [...new Set(emails)];
    for (let i = 0; i < unique.length; i += 500) {
      const chunk = unique.slice(i, i + 500);
      const results = await Promise.all(
        chunk.map((email) =>
          this.invites
            .updateOne(
              { _id: `${campaignId}:${email}` },
              { $setOnInsert: { campaignId, email } },
              { upsert: true },
            )
            .then((r) => r.upsertedCount)
            .catch((err) => {
              if (isDuplicateKey(err)) return 0;
              throw err;
            }),
        ),
      );
      added += results.reduce((a, b) => a + b, 0);
    }
    return added;
  }

  countInvites(campaignId: string): Promise<number> {
    return this.invites.countDocuments({ campaignId });
  }

  async listInvites(campaignId: string): Promise<string[]> {
    const docs = await this.invites.find({ campaignId }, { projection: { email: 1 } }).toArray();
    return docs.map((d) => d.email);
  }

  async pendingOutbox(limit: number): Promise<OutboxBatch[]> {
    const docs = await this.campaigns
      .find({ outboxPending: true }, { projection: { _id: 1, version: 1, outbox: 1, date: 1 } })
      .sort({ 'date.updated': 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => ({ campaignId: d._id, version: d.version, records: d.outbox ?? [] }));
  }

  async removeFromOutbox(campaignId: string, sourceRecordIds: readonly string[]): Promise<void> {
    const sent = new Set(sourceRecordIds);
    // FerretDB ignores $pull with a condition, so: read, filter, and write back only if the campaign
    // did not change in between (version guard); on a race, read again.
    for (let attempt = 0; attempt < 20; attempt++) {
      const doc = await this.campaigns.findOne(
        { _id: campaignId },
        { projection: { version: 1, outbox: 1 } },
      );
      if (!doc) return;
      const remaining = (doc.outbox ?? []).filter((r) => !sent.has(r.sourceRecordId));
      const result = await this.campaigns.updateOne(
        { _id: campaignId, version: doc.version },
        { $set: { outbox: remaining, outboxPending: remaining.length > 0 } },
      );
      if (result.matchedCount === 1) return;
    }
    throw new Error(`outbox of campaign ${campaignId} kept changing; will retry on the next pass`);
  }
}

function toCampaign(doc: CampaignDoc): Campaign {
  const { _id, outbox: _o, outboxPending: _p, ...campaign } = doc;
  return campaign;
}
