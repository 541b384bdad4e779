import type { Collection, Db } from 'mongodb';
import type { Campaign } from '../campaigns/campaign.ts';

// What the notification jobs read of the campaign store: closed campaigns with their markets
// (presale, time zone, event link, options) and one campaign by id. Read-only; the campaign store
// (stores/campaigns.ts) stays the only writer of campaign documents.

export interface NotificationCampaigns {
  /** Campaigns in status CLOSED (only those are planned: CLOSED is final). */
  closedCampaigns(): Promise<Campaign[]>;
  get(campaignId: string): Promise<Campaign | undefined>;
}

type CampaignDoc = Campaign & { _id: string };
const PROJECTION = { outbox: 0, outboxPending: 0 } as const;

export class MongoNotificationCampaigns implements NotificationCampaigns {
  private readonly campaigns: Collection<CampaignDoc>;
  constructor(db: Db) {
    this.campaigns = db.collection<CampaignDoc>('campaigns');
  }

  async closedCampaigns(): Promise<Campaign[]> {
    const docs = await this.campaigns.find({ status: 'CLOSED' }, { projection: PROJECTION }).toArray();
    return docs.map(({ _id, ...c }) => c as Campaign);
  }

  async get(campaignId: string): Promise<Campaign | undefined> {
    const doc = await this.campaigns.findOne({ _id: campaignId }, { projection: PROJECTION });
    if (!doc) return undefined;
    const { _id, ...c } = doc;
    return c as Campaign;
  }
}

export class MemoryNotificationCampaigns implements NotificationCampaigns {
  readonly campaigns = new Map<string, Campaign>();
  async closedCampaigns() {
    return [...this.campaigns.values()].filter((c) => c.status === 'CLOSED');
  }
  async get(campaignId: string) {
    return this.campaigns.get(campaignId);
  }
}
