import type { Clock } from '../../lib/clock.ts';
import { describeError } from '../../lib/errors.ts';
import type { Pager } from '../../lib/pagerduty.ts';
import { readAhead } from '../../lib/read-ahead.ts';
import { reminderRecords } from '../../notifications/reminder-records.ts';
import {
  type BatchHandler,
  type BatchItemOutcome,
  failed,
  type HandlerLogger,
  succeeded,
} from '../../runtime/types.ts';
import type { NotificationRequest } from '../../schemas/types.generated.ts';
import type { NotificationCampaigns } from '../../stores/notification-campaigns.ts';
import type { NotificationStateStore } from '../../stores/notification-state.ts';
import type { ReminderWriter, WriteTotals } from '../../stores/reminder-writer.ts';
import type { WinnerQueries } from '../../stores/winners.ts';

// notification-generator (spec Use Case 4, Generation Phase), one request per market:
//   - a market already date.notified is skipped (a redelivered, replayed or repeated request);
//   - a missing campaign (or market) is logged and skipped;
//   - the eligible fans (winners with a code for this market and a +1 phone) are read page by
//     page from one server-side cursor, a few pages ahead of the writes, turned into localized reminder records (the pure
//     reminderRecords) and streamed to the demand table, 25 items a BatchWriteItem;
//   - records without a body are dropped and counted by reason;
//   - everything written → date.notified (conditional: set once); no eligible fan → zero records,
//     and notified all the same;
//   - nothing could be written, or the generation failed → total failure: one PagerDuty incident
//     (dedup key per market) and the market stays un-notified, so the next poll asks again;
//   - some items failed → not notified either: the next poll writes the market again (the puts
//     are idempotent: the same keys and items), without an incident.
// The request's record always succeeds unless the incident itself cannot be sent (then the
// runtime retries the request, which is safe for the same reasons).

export const FAN_PAGE = 2_000;
/** Pages of eligible fans read ahead of the writes (at most this many × FAN_PAGE fans held). */
export const READ_AHEAD_PAGES = 4;

export interface GeneratorResources {
  campaigns: Pick<NotificationCampaigns, 'get'>;
  state: Pick<NotificationStateStore, 'getMarket' | 'markNotified'>;
  winners: Pick<WinnerQueries, 'reminderFans'>;
  reminders: ReminderWriter;
  pager: Pager;
  clock: Clock;
}

export type GenerationOutcome =
  | { status: 'ALREADY_NOTIFIED' }
  | { status: 'CAMPAIGN_NOT_FOUND' | 'MARKET_NOT_FOUND' }
  | { status: 'NOTIFIED'; written: number; dropped: Record<string, number>; ineligible: number }
  | { status: 'PARTIAL_FAILURE'; written: number; failed: number; error?: string }
  | { status: 'TOTAL_FAILURE'; written: number; failed: number; error: string; incident: boolean };

export const incidentKey = (campaignId: string, marketId: string) =>
  `regflow-notify-${campaignId}-${marketId}`;

async function writeMarket(
  request: NotificationRequest,
  r: GeneratorResources,
  campaign: { id: string; name: string },
  market: { id: string; campaignId: string; presaleAt: Date; timezone: string; eventLink: string },
  heartbeat?: () => Promise<void>,
): Promise<{ totals: WriteTotals; dropped: Record<string, number>; ineligible: number }> {
  const session = r.reminders.session();
  const dropped: Record<string, number> = {};
  let ineligible = 0;
  // The cursor runs up to READ_AHEAD_PAGES pages ahead of the writes: a read that stalls (the
  // database busy with other work) stops the writes only once the buffer is empty.
  const pages = readAhead(
    r.winners.reminderFans(request.campaignId, request.marketId, FAN_PAGE),
    READ_AHEAD_PAGES,
  );
  try {
    for await (const page of pages) {
      const batch = reminderRecords(campaign, market, page);
      ineligible += batch.ineligible;
      for (const [reason, n] of Object.entries(batch.dropped)) dropped[reason] = (dropped[reason] ?? 0) + n;
      await session.push(batch.records);
      // A market of 100,000 fans takes minutes: keep the group membership as pages go out.
      await heartbeat?.();
    }
  } catch (err) {
    await session.finish(); // let what is in flight land before deciding anything
    throw err;
  }
  return { totals: await session.finish(), dropped, ineligible };
}

export async function generateForMarket(
  request: NotificationRequest,
  r: GeneratorResources,
  log: HandlerLogger,
  heartbeat?: () => Promise<void>,
): Promise<GenerationOutcome> {
  const ids = { requestId: request.requestId, campaignId: request.campaignId, marketId: request.marketId };
  const state = await r.state.getMarket(request.campaignId, request.marketId);
  if (state?.notified) {
    log.info({ ...ids, notifiedAt: state.notified.toISOString() }, 'market already notified: skipped');
    return { status: 'ALREADY_NOTIFIED' };
  }
  const campaign = await r.campaigns.get(request.campaignId);
  if (!campaign) {
    log.warn(ids, 'campaign not found: market skipped');
    return { status: 'CAMPAIGN_NOT_FOUND' };
  }
  const market = campaign.markets.find((m) => m.id === request.marketId);
  if (!market) {
    log.warn(ids, 'market not found in its campaign: skipped');
    return { status: 'MARKET_NOT_FOUND' };
  }

  let written = 0;
  let failed = 0;
  let error: string | undefined;
  try {
    const result = await writeMarket(
      request,
      r,
      { id: campaign.id, name: campaign.name },
      {
        id: market.id,
        campaignId: campaign.id,
        presaleAt: new Date(market.presale.startsAt),
        timezone: market.presale.timeZone,
        eventLink: market.event.url,
      },
      heartbeat,
    );
    ({ written, failed } = result.totals);
    error = result.totals.lastError;
    if (failed === 0) {
      const applied = await r.state.markNotified(campaign.id, market.id, r.clock.now(), written);
      log.info(
        { ...ids, written, dropped: result.dropped, ineligible: result.ineligible, applied },
        written === 0
          ? 'no eligible fans: zero records, market notified'
          : 'reminders written, market notified',
      );
      return { status: 'NOTIFIED', written, dropped: result.dropped, ineligible: result.ineligible };
    }
  } catch (err) {
    error = describeError(err);
    written = 0;
  }
  if (written > 0) {
    log.warn(
      { ...ids, written, failed, error },
      'some reminders failed: market left un-notified for the next poll',
    );
    return { status: 'PARTIAL_FAILURE', written, failed, ...(error ? { error } : {}) };
  }
  const reason = error ?? 'unknown error';
  const incident = await r.pager.trigger({
    dedupKey: incidentKey(campaign.id, market.id),
    summary: `regflow: presale reminders of market ${market.id} (campaign ${campaign.id}) could not be written: ${reason}`,
    source: 'regflow/notification-generator',
    component: 'notification-generator',
    details: { ...ids, failed, error: reason, presaleAt: market.presale.startsAt },
  });
  log.warn(
    { ...ids, failed, error: reason, incident, dedupKey: incidentKey(campaign.id, market.id) },
    incident
      ? 'total failure: incident opened, market left un-notified for the next poll'
      : 'total failure: no incident sent (REGFLOW_PAGERDUTY_ROUTING_KEY unset), market left un-notified',
  );
  return { status: 'TOTAL_FAILURE', written: 0, failed, error: reason, incident };
}

export function notificationGeneratorHandler(): BatchHandler<NotificationRequest, GeneratorResources> {
  return async (records, ctx) => {
    const outcomes: BatchItemOutcome[] = [];
    const done = new Set<string>();
    for (const record of records) {
      // The same market twice in one batch (two polls): the first settles it.
      const key = `${record.value.campaignId}:${record.value.marketId}`;
      try {
        if (!done.has(key)) await generateForMarket(record.value, ctx.resources, ctx.log, ctx.heartbeat);
        done.add(key);
        outcomes.push(succeeded([]));
      } catch (err) {
        outcomes.push(failed(err)); // the incident could not be sent: the runtime tries again
      }
    }
    return outcomes;
  };
}
