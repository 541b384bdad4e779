import type { Campaign } from '../../campaigns/campaign.ts';
import type { Clock } from '../../lib/clock.ts';
import { PermanentError } from '../../lib/errors.ts';
import { marketsToNotify, type PolledMarket } from '../../notifications/markets-to-notify.ts';
import { type CandidateMarket, PLAN_WINDOW, planSends } from '../../notifications/plan-sends.ts';
import { reminderEmailsDue } from '../../notifications/reminder-emails.ts';
import type { Handler, HandlerLogger, OutputRecord } from '../../runtime/types.ts';
import type { ExportRequest, NotificationRequest, SchedulerTick } from '../../schemas/types.generated.ts';
import type { NotificationCampaigns } from '../../stores/notification-campaigns.ts';
import type { NotificationStateStore } from '../../stores/notification-state.ts';
import type { WinnerQueries } from '../../stores/winners.ts';

// The jobs the scheduler ticks trigger (spec Use Case 4): one processor on `scheduler.ticks`,
// dispatching on the tick's schedule. The rules are the pure functions of notifications/; this
// file reads the stores, applies them with the clock's now, and writes through conditional writes
// only, so a redelivered or replayed tick changes nothing:
//   plan-sends         date.notification set only where it is not set yet
//   markets-to-notify  one request per due market (deterministic requestId, keyed by market);
//                      date.notification unset only while it still holds the value polled
//   reminder-emails    one export request per due campaign (deterministic exportId)

export interface SchedulerJobsResources {
  campaigns: NotificationCampaigns;
  state: NotificationStateStore;
  winners: Pick<WinnerQueries, 'countReminderEligible'>;
  clock: Clock;
  settings: { sendRatePerHour: number };
}

export interface SchedulerJobsTopics {
  notificationRequests: string;
  exportRequests: string;
}

export const marketKey = (campaignId: string, marketId: string) => `${campaignId}:${marketId}`;
export const notificationRequestId = (campaignId: string, marketId: string, notificationAt: Date) =>
  `${marketKey(campaignId, marketId)}@${notificationAt.toISOString()}`;
export const exportId = (campaignId: string, dueAt: Date) => `${campaignId}@${dueAt.toISOString()}`;

type Ctx = { resources: SchedulerJobsResources; log: HandlerLogger };

/** plan-sends: plans every unplanned market 2–27 h ahead; returns what it wrote (for logs and tests). */
export async function runPlanSends(tick: SchedulerTick, { resources: r, log }: Ctx): Promise<string[]> {
  const now = r.clock.now();
  const campaigns = await r.campaigns.closedCampaigns();
  const states = new Map(
    (await r.state.marketsOf(campaigns.map((c) => c.id))).map((s) => [
      marketKey(s.campaignId, s.marketId),
      s,
    ]),
  );
  const candidates: CandidateMarket[] = [];
  for (const campaign of campaigns) {
    for (const market of campaign.markets) {
      const presaleAt = new Date(market.presale.startsAt);
      const state = states.get(marketKey(campaign.id, market.id));
      const ahead = presaleAt.getTime() - now.getTime();
      // Only what can be planned now or holds a send window still ahead matters to the plan.
      if (ahead <= 0 || ahead > PLAN_WINDOW.maxAheadMs) continue;
      if (state?.notified) continue;
      const needsCount = market.options.automatedReminders === true || state?.notification != null;
      candidates.push({
        id: marketKey(campaign.id, market.id),
        campaignId: campaign.id,
        campaignStatus: campaign.status,
        presaleAt,
        timezone: market.presale.timeZone,
        automatedReminders: market.options.automatedReminders === true,
        notificationAt: state?.notification ?? null,
        eligibleCount: needsCount ? await r.winners.countReminderEligible(campaign.id, market.id) : 0,
      });
    }
  }
  const plan = planSends(candidates, { now, sendRatePerHour: r.settings.sendRatePerHour });
  const written: string[] = [];
  for (const send of plan.planned) {
    const marketId = send.marketId.slice(send.campaignId.length + 1);
    const applied = await r.state.planNotification(send.campaignId, marketId, send.notifyAt);
    if (applied) written.push(send.marketId);
    log.info(
      {
        tickId: tick.tickId,
        campaignId: send.campaignId,
        marketId,
        notifyAt: send.notifyAt.toISOString(),
        notifyAtLocal: send.notifyAtLocal,
        durationMs: send.durationMs,
        volume: send.volume,
        shiftedEarlierMs: send.shiftedEarlierMs,
        late: send.late,
        applied,
      },
      applied ? 'market planned' : 'market already planned (redelivered tick)',
    );
  }
  const invalid = plan.skipped.filter((s) => s.reason === 'INVALID');
  if (invalid.length > 0) log.warn({ tickId: tick.tickId, invalid }, 'markets with bad data not planned');
  log.info(
    {
      tickId: tick.tickId,
      candidates: candidates.length,
      planned: plan.planned.length,
      written: written.length,
    },
    'plan-sends done',
  );
  return written;
}

/** markets-to-notify: one request per due market; cleans up markets past their presale. */
export async function runMarketsToNotify(
  tick: SchedulerTick,
  { resources: r, log }: Ctx,
  topic: string,
): Promise<OutputRecord<NotificationRequest>[]> {
  const now = r.clock.now();
  const scheduled = await r.state.scheduledMarkets();
  const campaigns = new Map<string, Campaign | undefined>();
  const polled: PolledMarket[] = [];
  for (const s of scheduled) {
    if (!campaigns.has(s.campaignId)) campaigns.set(s.campaignId, await r.campaigns.get(s.campaignId));
    const market = campaigns.get(s.campaignId)?.markets.find((m) => m.id === s.marketId);
    if (!market) {
      log.warn(
        { tickId: tick.tickId, campaignId: s.campaignId, marketId: s.marketId },
        'planned market not found',
      );
      continue;
    }
    polled.push({
      id: s.marketId,
      campaignId: s.campaignId,
      presaleAt: new Date(market.presale.startsAt),
      notificationAt: s.notification ?? null,
      notifiedAt: s.notified ?? null,
    });
  }
  const decision = marketsToNotify(polled, now);
  for (const m of decision.cleanup) {
    const cleared = await r.state.clearNotification(m.campaignId, m.id, m.notificationAt!);
    log.info(
      { tickId: tick.tickId, campaignId: m.campaignId, marketId: m.id, cleared },
      'past presale: date.notification unset',
    );
  }
  for (const m of decision.missed)
    log.warn(
      { tickId: tick.tickId, campaignId: m.campaignId, marketId: m.id, presaleAt: m.presaleAt.toISOString() },
      'market due but its presale is less than 5 minutes away: not notified',
    );
  log.info(
    {
      tickId: tick.tickId,
      notify: decision.notify.length,
      cleanup: decision.cleanup.length,
      missed: decision.missed.length,
    },
    'markets-to-notify done',
  );
  return decision.notify.map((m) => ({
    topic,
    key: marketKey(m.campaignId, m.id),
    value: {
      requestId: notificationRequestId(m.campaignId, m.id, m.notificationAt!),
      campaignId: m.campaignId,
      marketId: m.id,
      notificationAt: m.notificationAt!.getTime(),
      presaleAt: m.presaleAt.getTime(),
      tickId: tick.tickId,
      requestedAt: now.getTime(),
    },
  }));
}

/** reminder-emails: one export request per campaign with a due date.sendReminderEmails. */
export async function runReminderEmails(
  tick: SchedulerTick,
  { resources: r, log }: Ctx,
  topic: string,
): Promise<OutputRecord<ExportRequest>[]> {
  const now = r.clock.now();
  const due = reminderEmailsDue(
    (await r.state.reminderEmailsDue(now)).map((s) => ({
      id: s.campaignId,
      sendReminderEmails: s.sendReminderEmails,
    })),
    now,
  );
  log.info({ tickId: tick.tickId, due: due.length }, 'reminder-emails done');
  return due.map((d) => ({
    topic,
    key: d.campaignId,
    value: {
      exportId: exportId(d.campaignId, d.dueAt),
      kind: 'REMINDER_EMAILS',
      campaignId: d.campaignId,
      dueAt: d.dueAt.getTime(),
      tickId: tick.tickId,
      requestedAt: now.getTime(),
    },
  }));
}

export function schedulerJobsHandler(
  topics: SchedulerJobsTopics,
): Handler<SchedulerTick, SchedulerJobsResources> {
  return async (record, ctx) => {
    const tick = record.value;
    switch (tick.schedule) {
      case 'plan-sends':
        await runPlanSends(tick, ctx);
        return [];
      case 'markets-to-notify':
        return runMarketsToNotify(tick, ctx, topics.notificationRequests);
      case 'reminder-emails':
        return runReminderEmails(tick, ctx, topics.exportRequests);
      default:
        throw new PermanentError(
          `schedule: unknown schedule ${JSON.stringify(tick.schedule)} in tick ${tick.tickId}`,
        );
    }
  };
}
