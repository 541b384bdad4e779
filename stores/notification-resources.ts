import { type Clock, parseClock } from '../lib/clock.ts';
import { type Pager, PagerDutyEvents } from '../lib/pagerduty.ts';
import { dynamodb, mongo, s3 } from '../lib/resources.ts';
import { defineResource, type Resource } from '../runtime/resources.ts';
import { type ExportBucket, S3ExportBucket } from './export-bucket.ts';
import { MongoNotificationCampaigns, type NotificationCampaigns } from './notification-campaigns.ts';
import { MongoNotificationStateStore, type NotificationStateStore } from './notification-state.ts';
import { DynamoReminderWriter, type ReminderWriter } from './reminder-writer.ts';
import { MongoWinnerQueries, type WinnerQueries } from './winners.ts';

// The resources of the notification processors (scheduler-jobs, notification-generator,
// export-writer), each opened once per process and shared.

export const notificationCampaigns = defineResource<NotificationCampaigns>({
  name: 'notification-campaigns',
  open: async ({ use }) => new MongoNotificationCampaigns((await use(mongo)).db),
});

export const notificationState = defineResource<NotificationStateStore>({
  name: 'notification-state',
  open: async ({ use }) => {
    const store = new MongoNotificationStateStore((await use(mongo)).db);
    await store.init();
    return store;
  },
});

export const winnerQueries = defineResource<WinnerQueries>({
  name: 'winner-queries',
  open: async ({ use }) => new MongoWinnerQueries((await use(mongo)).db),
});

export const reminderWriter = defineResource<ReminderWriter>({
  name: 'reminder-writer',
  open: async ({ use, config }) => new DynamoReminderWriter(await use(dynamodb), config.dynamodb.demandTable),
});

export const crmBucket = defineResource<ExportBucket>({
  name: 'crm-bucket',
  open: async ({ use, config }) => new S3ExportBucket(await use(s3), config.notifications.crmBucket),
});

export const pager = defineResource<Pager>({
  name: 'pager',
  open: async ({ config, logger }) => {
    if (config.notifications.pagerDutyRoutingKey === '')
      logger.warn('REGFLOW_PAGERDUTY_ROUTING_KEY is empty: total notification failures open no incident');
    return new PagerDutyEvents({
      url: config.notifications.pagerDutyUrl,
      routingKey: config.notifications.pagerDutyRoutingKey,
    });
  },
});

/** The clock REGFLOW_CLOCK names: one resource, so the processors of one process share it. */
const configuredClock = defineResource<Clock>({
  name: 'clock',
  open: async ({ config }) => parseClock(config.runtime.clock, 'REGFLOW_CLOCK'),
});

/**
 * The clock as a resource: the one REGFLOW_CLOCK names (system by default; `regflow run --clock`
 * sets it), or one a test hands in. Without an argument it is always the same resource: the
 * runtime refuses two different resources of one name in one process (`regflow run a b c`).
 */
export const clockResource = (clock?: Clock): Resource<Clock> =>
  clock === undefined ? configuredClock : defineResource<Clock>({ name: 'clock', open: async () => clock });

export const notificationSettings = defineResource<{ sendRatePerHour: number }>({
  name: 'notification-settings',
  open: async ({ config }) => ({ sendRatePerHour: config.notifications.sendRatePerHour }),
});
