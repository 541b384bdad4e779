import type { Clock } from '../../lib/clock.ts';
import { type ReminderRecipient, reminderExport } from '../../notifications/reminder-emails.ts';
import type { Handler, HandlerLogger } from '../../runtime/types.ts';
import type { ExportRequest } from '../../schemas/types.generated.ts';
import type { ExportBucket } from '../../stores/export-bucket.ts';
import type { NotificationCampaigns } from '../../stores/notification-campaigns.ts';
import type { NotificationStateStore } from '../../stores/notification-state.ts';
import type { WinnerQueries } from '../../stores/winners.ts';

// export-writer (the spec's triggerReminderEmail + Exports Service, Use Case 4 Email Reminder
// Phase), one export request per campaign and due date:
//   1. the date must still be in date.sendReminderEmails (else: already handled, skip);
//   2. the CSV of the campaign's reminder recipients (winners with a code, any market: email,
//      name, market, code, presale time in the market's zone) at its deterministic key, with
//      deterministic content (notifications/reminder-emails.ts);
//   3. the upload, only if no object is at that key yet: an object there is this export from a run
//      that crashed before step 4, and is kept as it is (never a second, different file);
//   4. that date leaves date.sendReminderEmails and date.triggeredEmailReminders is set.

export const WINNER_PAGE = 1_000;

export interface ExportWriterResources {
  campaigns: Pick<NotificationCampaigns, 'get'>;
  state: Pick<NotificationStateStore, 'getReminderEmails' | 'completeReminderEmails'>;
  winners: Pick<WinnerQueries, 'campaignWinners' | 'profiles'>;
  bucket: ExportBucket;
  clock: Clock;
}

export type ExportOutcome =
  | { status: 'ALREADY_DONE' | 'CAMPAIGN_NOT_FOUND' }
  | { status: 'EXPORTED'; key: string; rows: number; uploaded: boolean; skipped: number };

export async function writeReminderExport(
  request: ExportRequest,
  r: ExportWriterResources,
  log: HandlerLogger,
): Promise<ExportOutcome> {
  const dueAt = new Date(request.dueAt);
  const ids = { exportId: request.exportId, campaignId: request.campaignId, dueAt: dueAt.toISOString() };
  const state = await r.state.getReminderEmails(request.campaignId);
  if (!state?.sendReminderEmails.some((d) => d.getTime() === dueAt.getTime())) {
    log.info(ids, 'reminder email date already handled: skipped');
    return { status: 'ALREADY_DONE' };
  }
  const campaign = await r.campaigns.get(request.campaignId);
  if (!campaign) {
    log.warn(ids, 'campaign not found: export skipped');
    return { status: 'CAMPAIGN_NOT_FOUND' };
  }
  const markets = new Map(campaign.markets.map((m) => [m.id, m]));
  const recipients: ReminderRecipient[] = [];
  let skipped = 0;
  for await (const page of r.winners.campaignWinners(campaign.id, WINNER_PAGE)) {
    const profiles = await r.winners.profiles([...new Set(page.map((w) => w.globalUserId))]);
    for (const w of page) {
      const profile = profiles.get(w.globalUserId);
      const market = markets.get(w.marketId);
      if (!profile?.email || !market) {
        skipped++;
        continue;
      }
      recipients.push({
        email: profile.email,
        name: [profile.firstName, profile.lastName].filter(Boolean).join(' '),
        marketId: market.id,
        marketName: market.name,
        code: w.code,
        presaleAt: new Date(market.presale.startsAt),
        timezone: market.presale.timeZone,
      });
    }
  }
  const file = reminderExport(campaign.id, dueAt, recipients);
  await r.bucket.ensure();
  const existing = await r.bucket.head(file.key);
  if (existing && existing.sha256 !== file.sha256)
    log.warn(
      { ...ids, key: file.key, stored: existing.sha256, computed: file.sha256 },
      'an export is already at this key with other content (recipients changed since): kept the stored one',
    );
  if (!existing) await r.bucket.put(file.key, file.body, file.sha256);
  const completed = await r.state.completeReminderEmails(campaign.id, dueAt, r.clock.now());
  log.info(
    {
      ...ids,
      bucket: r.bucket.name,
      key: file.key,
      rows: file.rows,
      skipped,
      uploaded: !existing,
      completed,
    },
    'reminder email export written',
  );
  return { status: 'EXPORTED', key: file.key, rows: file.rows, uploaded: !existing, skipped };
}

export function exportWriterHandler(): Handler<ExportRequest, ExportWriterResources> {
  return async (record, ctx) => {
    await writeReminderExport(record.value, ctx.resources, ctx.log);
    return [];
  };
}
