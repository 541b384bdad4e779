import { isReminderEligible, type ScoredFan } from './eligibility.ts';
import { reminderMessage } from './messages.ts';

// The reminder records of one market (spec Use Case 4, Generation Phase), without I/O: one item per
// eligible fan for the demand table, keyed `PK fan:{globalUserId}`, `SK asu#{campaignId}-{marketId}#reminder`.
// The key holds no time and the item no clock reading, so a redelivered or replayed request
// writes the same items again: nothing twice. Fans that are not eligible are left out; eligible
// fans whose message has no body (unknown locale, missing data) are dropped and counted by reason.

export interface ReminderMarket {
  id: string;
  campaignId: string;
  presaleAt: Date;
  timezone: string;
  eventLink: string;
}

export interface ReminderCampaign {
  id: string;
  /** What the fan registered for (artist / tour), shown in the message. */
  name: string;
}

export interface ReminderFan extends ScoredFan {
  globalUserId: string;
  locale?: string | null;
}

export interface ReminderRecord {
  PK: string;
  SK: string;
  globalUserId: string;
  campaignId: string;
  marketId: string;
  phoneNumber: string;
  locale: string;
  body: string;
  presaleAt: string;
}

export interface ReminderBatch {
  records: ReminderRecord[];
  /** `UNKNOWN_LOCALE` / `MISSING_DATA:<field>` → how many eligible fans got no record for it. */
  dropped: Record<string, number>;
  /** Fans given that were not eligible (not a winner, no code for this market, no +1 phone). */
  ineligible: number;
}

export const reminderKey = (globalUserId: string, campaignId: string, marketId: string) => ({
  PK: `fan:${globalUserId}`,
  SK: `asu#${campaignId}-${marketId}#reminder`,
});

export function reminderRecords(
  campaign: ReminderCampaign,
  market: ReminderMarket,
  fans: Iterable<ReminderFan>,
): ReminderBatch {
  const batch: ReminderBatch = { records: [], dropped: {}, ineligible: 0 };
  const seen = new Set<string>();
  for (const fan of fans) {
    if (!isReminderEligible(fan, market.id)) {
      batch.ineligible++;
      continue;
    }
    if (typeof fan.globalUserId !== 'string' || fan.globalUserId === '') {
      batch.dropped['MISSING_DATA:globalUserId'] = (batch.dropped['MISSING_DATA:globalUserId'] ?? 0) + 1;
      continue;
    }
    if (seen.has(fan.globalUserId)) continue; // one reminder per fan and market
    const message = reminderMessage({
      locale: fan.locale ?? '',
      eventName: campaign.name,
      presaleAt: market.presaleAt,
      timezone: market.timezone,
      accessCode: fan.code?.value ?? '',
      eventLink: market.eventLink,
    });
    if (message.body === null) {
      const reason =
        message.reason === 'UNKNOWN_LOCALE' ? message.reason : `${message.reason}:${message.field}`;
      batch.dropped[reason] = (batch.dropped[reason] ?? 0) + 1;
      continue;
    }
    seen.add(fan.globalUserId);
    batch.records.push({
      ...reminderKey(fan.globalUserId, campaign.id, market.id),
      globalUserId: fan.globalUserId,
      campaignId: campaign.id,
      marketId: market.id,
      phoneNumber: fan.phoneNumber!,
      locale: message.locale,
      body: message.body,
      presaleAt: market.presaleAt.toISOString(),
    });
  }
  return batch;
}
