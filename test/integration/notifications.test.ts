import { DeleteTableCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Admin } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../config/index.ts';
import { createDynamoDb, createMongo, createS3 } from '../../lib/clients.ts';
import { SimulatedClock } from '../../lib/clock.ts';
import { createLogger } from '../../lib/logger.ts';
import { waitFor } from '../../lib/retry.ts';
import { writeReminderExport } from '../../processors/export-writer/handler.ts';
import { exportWriterProcessor } from '../../processors/export-writer/processor.ts';
import { notificationGeneratorProcessor } from '../../processors/notification-generator/processor.ts';
import { schedulerJobsProcessor } from '../../processors/scheduler-jobs/processor.ts';
import { type RunningProcessor, runProcessors } from '../../runtime/run-processor.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { NotificationRequest, SchedulerTick } from '../../schemas/types.generated.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { DemandTable } from '../../stores/demand-table.ts';
import { S3ExportBucket } from '../../stores/export-bucket.ts';
import { MongoNotificationCampaigns } from '../../stores/notification-campaigns.ts';
import { clockResource } from '../../stores/notification-resources.ts';
import { MongoNotificationStateStore } from '../../stores/notification-state.ts';
import { MongoScoringStore } from '../../stores/scoring.ts';
import { MongoUserStore } from '../../stores/users.ts';
import { MongoWinnerQueries } from '../../stores/winners.ts';
import { createTopic } from '../../topology/admin.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import {
  closedCampaign,
  market,
  SCENARIO_NOTIFY_AT,
  SCENARIO_PLAN_AT,
  scoringRows,
} from '../fixtures/notifications.ts';
import { codec, kafka } from '../runtime-harness.ts';
import { config, uniqueName } from '../support.ts';

// The notification flow on the real services with a simulated clock: scheduler ticks on a Kafka
// topic of the test's own → scheduler-jobs → notification requests → notification-generator →
// reminder records in a DynamoDB table of its own; exports to an S3 bucket of its own; incidents
// to a PagerDuty-compatible endpoint served by the test (fastify on 127.0.0.1, port 0).

const mongo = createMongo(config.mongodb);
const dynamo = createDynamoDb(config.dynamodb);
const s3 = createS3(config.s3);
const dbName = uniqueName('notify').replace(/-/g, '_');
const table = uniqueName('notify-demand');
const bucket = uniqueName('notify-crm').toLowerCase();
const missingTable = uniqueName('notify-missing');
const campaignId = uniqueName('tour');
const clock = new SimulatedClock(SCENARIO_PLAN_AT);
const events: Array<{
  routing_key: string;
  event_action: string;
  dedup_key: string;
  payload: { summary: string };
}> = [];
let pagerServer: FastifyInstance;
let admin: Admin;
let running: RunningProcessor[] = [];
let testConfig: Readonly<Config>;
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });

const base = uniqueName('notify');
const topics = { ticks: `${base}.ticks`, requests: `${base}.requests`, exports: `${base}.exports` };
const spec = (name: string, inputs: string[], outputs: string[]): ProcessorSpec => ({
  name: `${base}-${name}`,
  description: name,
  inputs,
  outputs,
  retry: { attempts: 2, initialDelayMs: 20, maxDelayMs: 100, tierDelaysMs: [] },
});
const specs = {
  jobs: spec('jobs', [topics.ticks], [topics.requests, topics.exports]),
  generator: spec('generator', [topics.requests], []),
  exporter: spec('exporter', [topics.exports], []),
  failing: spec('failing', [`${base}.failing`], []),
};

const db = () => mongo.db(dbName);
const state = () => new MongoNotificationStateStore(db());

function configWith(env: Record<string, string>): Readonly<Config> {
  const url = new URL(config.mongodb.url.replace(/^mongodb:/, 'http:'));
  url.pathname = `/${dbName}`;
  return loadConfig({
    ...process.env,
    REGFLOW_MONGODB_URL: url.toString().replace(/^http:/, 'mongodb:'),
    REGFLOW_DEMAND_TABLE: table,
    REGFLOW_CRM_BUCKET: bucket,
    REGFLOW_PAGERDUTY_URL: `http://127.0.0.1:${(pagerServer.server.address() as { port: number }).port}/v2/enqueue`,
    REGFLOW_PAGERDUTY_ROUTING_KEY: 'routing-key-test',
    REGFLOW_HTTP_PORT: '0',
    REGFLOW_LOG_LEVEL: 'warn',
    ...env,
  });
}

async function tick(schedule: string): Promise<void> {
  const at = clock.now().getTime();
  const value: SchedulerTick = {
    tickId: `${schedule}@${new Date(at).toISOString()}`,
    schedule,
    cron: '* * * * *',
    timezone: 'America/Los_Angeles',
    scheduledAt: at,
    firedAt: at,
    catchUp: false,
    skippedBefore: 0,
    leaderEpoch: 1,
    firedBy: 'test',
  };
  await producer.send({
    topic: topics.ticks,
    messages: [{ key: value.tickId, value: await codec.encode(topics.ticks, value) }],
    acks: -1,
  });
}

async function request(topic: string, campaign: string, marketId: string): Promise<void> {
  const value: NotificationRequest = {
    requestId: `${campaign}:${marketId}@${SCENARIO_NOTIFY_AT.toISOString()}`,
    campaignId: campaign,
    marketId,
    notificationAt: SCENARIO_NOTIFY_AT.getTime(),
    presaleAt: Date.parse('2026-11-02T18:30:00Z'),
    tickId: 'test',
    requestedAt: clock.now().getTime(),
  };
  await producer.send({
    topic,
    messages: [{ key: `${campaign}:${marketId}`, value: await codec.encode(topic, value) }],
    acks: -1,
  });
}

/** Waits until the group has committed everything on its input topic. */
async function drained(group: string, topic: string): Promise<void> {
  const ok = await waitFor(
    async () => {
      const [ends, committed] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: group, topics: [topic] }),
      ]);
      const done = new Map(committed[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
      return ends.every((e) => Number(e.high) === 0 || (done.get(e.partition) ?? -1) >= Number(e.high));
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  if (!ok) throw new Error(`${group} did not drain ${topic}`);
}

async function reminderItems(): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, never> | undefined;
  do {
    const out = await dynamo.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    items.push(...(out.Items ?? []).map((i) => unmarshall(i)));
    start = out.LastEvaluatedKey as typeof start;
  } while (start);
  return items.filter((i) => i.type === 'reminder');
}

async function seedWinners(campaign: string, marketId: string, n: number): Promise<void> {
  const scoring = new MongoScoringStore(db());
  const users = new MongoUserStore(db());
  const rows = scoringRows(campaign, marketId, n);
  for (const r of rows)
    await scoring.replaceFanRows(campaign, r.globalUserId, 1, [
      { marketId, phone: r.phone, locale: r.locale, score: r.score },
    ]);
  // selection's results, written through the scoring store as selection does
  await scoring.recordSelection(
    campaign,
    marketId,
    'run-1',
    rows.map((r) => ({ globalUserId: r.globalUserId, verdict: r.verdict ?? false, code: r.code })),
  );
  for (let i = 0; i < rows.length; i += 25)
    await users.upsertUsers(
      rows.slice(i, i + 25).map((r) => ({
        globalUserId: r.globalUserId,
        email: `${r.globalUserId}@example.com`,
        firstName: 'Fan',
        lastName: r.globalUserId,
        version: 1,
        updatedAt: '2026-10-30T00:00:00.000Z',
      })),
    );
}

beforeAll(async () => {
  pagerServer = Fastify();
  pagerServer.post('/v2/enqueue', async (req, reply) => {
    events.push(req.body as (typeof events)[number]);
    return reply.code(202).send({ status: 'success', message: 'Event processed' });
  });
  await pagerServer.listen({ host: '127.0.0.1', port: 0 });
  admin = kafka.admin();
  await Promise.all([admin.connect(), mongo.connect(), producer.connect()]);
  for (const t of [...Object.values(topics), `${base}.failing`])
    await createTopic(admin, { topic: t, numPartitions: t === topics.ticks ? 1 : 3 });
  for (const s of Object.values(specs))
    await createTopic(admin, { topic: `${s.name}.dlt`, numPartitions: 1 });
  await codec.register(topics.ticks, loadSchema('scheduler-tick'));
  await codec.register(topics.requests, loadSchema('notification-request'));
  await codec.register(`${base}.failing`, loadSchema('notification-request'));
  await new DemandTable(dynamo, table).ensureTable();
  await new MongoCampaignStore(db()).init();
  await new MongoScoringStore(db()).init();

  testConfig = configWith({});
  const overrides = { resources: { clock: clockResource(clock) } };
  running.push(
    await runProcessors({
      config: testConfig,
      logger: createLogger('warn'),
      definitions: [
        schedulerJobsProcessor({ spec: specs.jobs, ...overrides }),
        notificationGeneratorProcessor({ spec: specs.generator, ...overrides }),
        exportWriterProcessor({ spec: specs.exporter, ...overrides }),
      ],
    }),
  );
  await waitFor(async () => running.every((r) => r.ready()), { timeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  running = [];
  await producer.disconnect();
  await admin.disconnect();
  await db()
    .dropDatabase()
    .catch(() => {});
  await mongo.close();
  await dynamo.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
  for (const o of listed?.Contents ?? [])
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! })).catch(() => {});
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
  await pagerServer.close();
});

describe('notifications on the real services, simulated clock', () => {
  it('plan → poll → generate: localized reminder records with the right keys; a second poll writes nothing twice; cleanup past the presale; zero eligible fans; campaign not found', async () => {
    const campaigns = new MongoCampaignStore(db());
    await campaigns.create(
      closedCampaign(campaignId, [
        market('lax'),
        market('quiet', {
          presale: { startsAt: '2026-11-02T12:00:00-08:00', timeZone: 'America/Los_Angeles' },
        }),
      ]),
      [],
    );
    await seedWinners(campaignId, 'lax', 30); // 30 winners + the 4 special fans of the fixture

    // Monday 00:00 PT: plan-sends → 9:30 for the 10:30 presale; 11:00 for the fan-less noon one
    await tick('plan-sends');
    await drained(specs.jobs.name, topics.ticks);
    expect((await state().getMarket(campaignId, 'lax'))?.notification).toEqual(SCENARIO_NOTIFY_AT);
    expect((await state().getMarket(campaignId, 'quiet'))?.notification).toEqual(
      new Date('2026-11-02T19:00:00Z'),
    );
    await tick('plan-sends'); // a repeated tick changes nothing
    await drained(specs.jobs.name, topics.ticks);
    expect((await state().getMarket(campaignId, 'lax'))?.notification).toEqual(SCENARIO_NOTIFY_AT);

    // 9:30: the poll requests lax; the generator writes its reminders and marks it notified
    clock.set(SCENARIO_NOTIFY_AT);
    await tick('markets-to-notify');
    await drained(specs.jobs.name, topics.ticks);
    await drained(specs.generator.name, topics.requests);
    const lax = await state().getMarket(campaignId, 'lax');
    expect(lax).toMatchObject({ notified: SCENARIO_NOTIFY_AT, recordsWritten: 30 });
    const items = await reminderItems();
    expect(items).toHaveLength(30); // the de-DE winner has no body: dropped; loser, code-less, +44: not eligible
    const byFan = new Map(items.map((i) => [i.PK as string, i]));
    expect(byFan.get('fan:fan-000000')).toMatchObject({
      SK: `asu#${campaignId}-lax#reminder`,
      locale: 'en-US',
      phoneNumber: '+13105550000',
      body: 'Reminder: the presale for Spring Tour starts Monday, November 2 at 10:30 AM PST. Your access code: CODE-lax-0. Tickets: https://tickets.example.com/e/lax',
    });
    expect(byFan.get('fan:fan-000001')).toMatchObject({
      locale: 'es-US',
      body: 'Recordatorio: la preventa de Spring Tour comienza el lunes 2 de noviembre a las 10:30 AM PST. Tu código de acceso: CODE-lax-1. Boletos: https://tickets.example.com/e/lax',
    });
    expect(byFan.get('fan:fan-000002')).toMatchObject({
      locale: 'fr-CA',
      body: 'Rappel : la prévente de Spring Tour commence le lundi 2 novembre à 10 h 30 HNP. Votre code d’accès : CODE-lax-2. Billets : https://tickets.example.com/e/lax',
    });
    expect([...byFan.keys()].filter((k) => k.startsWith('fan:x-'))).toEqual([]);

    // a second poll, and a replayed request: nothing written twice, nothing rewritten
    clock.advance(5 * 60_000);
    await tick('markets-to-notify');
    await request(topics.requests, campaignId, 'lax');
    await drained(specs.jobs.name, topics.ticks);
    await drained(specs.generator.name, topics.requests);
    expect(await reminderItems()).toEqual(items);
    expect(await state().getMarket(campaignId, 'lax')).toEqual(lax);

    // campaign not found: logged and skipped, nothing written, no state
    await request(topics.requests, 'no-such-campaign', 'lax');
    await drained(specs.generator.name, topics.requests);
    expect(await state().getMarket('no-such-campaign', 'lax')).toBeUndefined();
    expect(await reminderItems()).toHaveLength(30);

    // 11:00: the fan-less market: zero records, notified all the same
    clock.set(new Date('2026-11-02T19:00:00Z'));
    await tick('markets-to-notify');
    await drained(specs.jobs.name, topics.ticks);
    await drained(specs.generator.name, topics.requests);
    expect(await state().getMarket(campaignId, 'quiet')).toMatchObject({ recordsWritten: 0 });
    expect((await state().getMarket(campaignId, 'quiet'))?.notified).toBeDefined();
    expect(await reminderItems()).toHaveLength(30);

    // past both presales: date.notification unset (the cleanup)
    clock.set(new Date('2026-11-02T20:00:00Z'));
    await tick('markets-to-notify');
    await drained(specs.jobs.name, topics.ticks);
    expect((await state().getMarket(campaignId, 'lax'))?.notification).toBeUndefined();
    expect((await state().getMarket(campaignId, 'quiet'))?.notification).toBeUndefined();
    expect(events).toEqual([]);
  }, 180_000);

  it('a total failure raises exactly one incident at the PagerDuty endpoint and leaves the market un-notified', async () => {
    const failing = uniqueName('fail');
    await new MongoCampaignStore(db()).create(closedCampaign(failing), []);
    await seedWinners(failing, 'lax', 5);
    // the same processor, with its demand table missing: every BatchWriteItem fails
    const broken = await runProcessors({
      config: configWith({ REGFLOW_DEMAND_TABLE: missingTable }),
      logger: createLogger('silent'),
      definitions: [
        notificationGeneratorProcessor({ spec: specs.failing, resources: { clock: clockResource(clock) } }),
      ],
    });
    try {
      await request(`${base}.failing`, failing, 'lax');
      await drained(specs.failing.name, `${base}.failing`);
    } finally {
      await broken.stop();
    }
    const mine = events.filter((e) => e.dedup_key === `regflow-notify-${failing}-lax`);
    expect(mine).toHaveLength(1);
    expect(events).toHaveLength(1);
    expect(mine[0]).toMatchObject({ routing_key: 'routing-key-test', event_action: 'trigger' });
    expect(mine[0]!.payload.summary).toContain(`market lax (campaign ${failing})`);
    expect((await state().getMarket(failing, 'lax'))?.notified).toBeUndefined();
  }, 120_000);

  it('exports the email reminders to the CRM bucket; a rerun after a crash between upload and update leaves the same single object', async () => {
    const emails = uniqueName('mail');
    await new MongoCampaignStore(db()).create(closedCampaign(emails), []);
    await seedWinners(emails, 'lax', 4);
    const dueAt = new Date('2026-11-01T16:00:00.000Z');
    await state().setReminderEmailDates(emails, [new Date('2026-11-03T16:00:00Z'), dueAt]);

    // through Kafka: the reminder-emails tick → export request → export-writer
    clock.set(new Date('2026-11-02T20:15:00Z'));
    await tick('reminder-emails');
    await drained(specs.jobs.name, topics.ticks);
    await drained(specs.exporter.name, topics.exports);
    const key = `reminder-emails/${emails}/2026-11-01T16:00:00.000Z.csv`;
    const body = await (
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    ).Body!.transformToString();
    expect(body.split('\r\n')).toEqual([
      'email,name,market_id,market,code,presale_at',
      'fan-000000@example.com,Fan fan-000000,lax,Los Angeles,CODE-lax-0,2026-11-02T10:30:00-08:00',
      'fan-000001@example.com,Fan fan-000001,lax,Los Angeles,CODE-lax-1,2026-11-02T10:30:00-08:00',
      'fan-000002@example.com,Fan fan-000002,lax,Los Angeles,CODE-lax-2,2026-11-02T10:30:00-08:00',
      'fan-000003@example.com,Fan fan-000003,lax,Los Angeles,CODE-lax-3,2026-11-02T10:30:00-08:00',
      'x-german@example.com,Fan x-german,lax,Los Angeles,CODE-DE,2026-11-02T10:30:00-08:00',
      'x-uk@example.com,Fan x-uk,lax,Los Angeles,CODE-UK,2026-11-02T10:30:00-08:00',
      '',
    ]);
    const after = await state().getReminderEmails(emails);
    expect(after?.sendReminderEmails).toEqual([new Date('2026-11-03T16:00:00Z')]);
    expect(after?.triggeredEmailReminders).toEqual(new Date('2026-11-02T20:15:00Z'));

    // the next date, with a crash between the upload and the campaign update, then the rerun
    clock.set(new Date('2026-11-03T16:10:00Z'));
    const store = state();
    const resources = {
      campaigns: new MongoNotificationCampaigns(db()),
      state: store,
      winners: new MongoWinnerQueries(db()),
      bucket: new S3ExportBucket(s3, bucket),
      clock,
    };
    const log = { info: () => {}, warn: () => {} };
    const next = {
      exportId: `${emails}@2026-11-03T16:00:00.000Z`,
      kind: 'REMINDER_EMAILS',
      campaignId: emails,
      dueAt: Date.parse('2026-11-03T16:00:00Z'),
      tickId: 'test',
      requestedAt: clock.now().getTime(),
    };
    const crashing = {
      ...resources,
      state: Object.assign(Object.create(store), {
        completeReminderEmails: async () => {
          throw new Error('killed after the upload');
        },
      }),
    };
    await expect(writeReminderExport(next, crashing, log)).rejects.toThrow('killed after the upload');
    const list = async () =>
      (
        (await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `reminder-emails/${emails}/` })))
          .Contents ?? []
      )
        .map((o) => ({ key: o.Key, etag: o.ETag }))
        .sort((a, b) => (a.key! < b.key! ? -1 : 1));
    const before = await list();
    expect(before).toHaveLength(2);
    expect(await writeReminderExport(next, resources, log)).toMatchObject({
      status: 'EXPORTED',
      uploaded: false,
    });
    expect(await list()).toEqual(before);
    expect((await state().getReminderEmails(emails))?.sendReminderEmails).toEqual([]);
    expect(await writeReminderExport(next, resources, log)).toEqual({ status: 'ALREADY_DONE' });
    expect(await list()).toEqual(before);
  }, 120_000);
});
