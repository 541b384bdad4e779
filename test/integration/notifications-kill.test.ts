import { DeleteTableCommand, DescribeTableCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Admin } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDb, createDynamoDbStreams, createMongo, createS3 } from '../../lib/clients.ts';
import { waitFor } from '../../lib/retry.ts';
import { reminderRecords } from '../../notifications/reminder-records.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { ExportRequest, NotificationRequest } from '../../schemas/types.generated.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { DemandTable } from '../../stores/demand-table.ts';
import { MongoNotificationStateStore } from '../../stores/notification-state.ts';
import { MongoScoringStore } from '../../stores/scoring.ts';
import { createTopic } from '../../topology/admin.ts';
import {
  closedCampaign,
  SCENARIO_NOTIFY_AT,
  SCENARIO_PRESALE,
  scoringRows,
} from '../fixtures/notifications.ts';
import { codec, type EchoProcess, kafka, spawnFixture } from '../runtime-harness.ts';
import { config, uniqueName } from '../support.ts';

// kill -9 of the notification processors mid-run (child processes running the processors as
// `regflow run` does, on topics of the test's own, test/fixtures/notification-process.ts), then a
// restart: the same final state as an undisturbed run.
//   generator  killed while its BatchWriteItems are in flight, then again after date.notified but
//              before the Kafka commit: every reminder item holds one content in every change the
//              table's stream saw (never rewritten differently), the market is notified once (by
//              the run that finished the writes; the last run skips it), the items are the
//              expected ones.
//   exporter   killed after the upload, before the campaign's dates are updated (recipients then
//              change), then again after the update but before the commit: one object in the
//              bucket, the first upload's, and the date handled once.

const FANS = 3_000;
const mongo = createMongo(config.mongodb);
const dynamo = createDynamoDb(config.dynamodb);
const streams = createDynamoDbStreams(config.dynamodb);
const s3 = createS3(config.s3);
const dbName = uniqueName('notkill').replace(/-/g, '_');
const table = uniqueName('notkill-demand');
const bucket = uniqueName('notkill-crm').toLowerCase();
const base = uniqueName('notkill');
const campaignId = uniqueName('killtour');
const topics = { requests: `${base}.requests`, exports: `${base}.exports` };
const groups = { generator: `${base}-generator`, exporter: `${base}-exporter` };
const db = () => mongo.db(dbName);
const state = () => new MongoNotificationStateStore(db());
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
let admin: Admin;
const children: EchoProcess[] = [];

const mongoUrl = () => {
  const url = new URL(config.mongodb.url.replace(/^mongodb:/, 'http:'));
  url.pathname = `/${dbName}`;
  return url.toString().replace(/^http:/, 'mongodb:');
};

/** One processor process; `clock` is what `regflow run --clock` would be given. */
function start(run: 'generator' | 'exporter', clock: string, fault?: string): EchoProcess {
  const child = spawnFixture('test/fixtures/notification-process.ts', {
    FIXTURE_BASE: base,
    FIXTURE_GROUP: groups[run],
    FIXTURE_RUN: run,
    ...(fault ? { FIXTURE_FAULT: fault } : {}),
    REGFLOW_CLOCK: `simulated:${clock}`,
    REGFLOW_MONGODB_URL: mongoUrl(),
    REGFLOW_DEMAND_TABLE: table,
    REGFLOW_CRM_BUCKET: bucket,
    REGFLOW_PAGERDUTY_ROUTING_KEY: '',
    REGFLOW_BATCH_MAX_RECORDS: '1',
  });
  children.push(child);
  return child;
}

async function killedBy(child: EchoProcess, fault: string): Promise<void> {
  await child.waitForEvent(fault, 180_000);
  const exit = await child.exited;
  expect(exit.signal, child.output().slice(-3_000)).toBe('SIGKILL');
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
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  if (!ok) throw new Error(`${group} did not drain ${topic}`);
}

async function reminderItems(): Promise<Map<string, Record<string, unknown>>> {
  const items = new Map<string, Record<string, unknown>>();
  let startKey: Record<string, never> | undefined;
  do {
    const out = await dynamo.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: startKey, ConsistentRead: true }),
    );
    for (const raw of out.Items ?? []) {
      const i = unmarshall(raw);
      if (i.type === 'reminder') items.set(`${i.PK}|${i.SK}`, i);
    }
    startKey = out.LastEvaluatedKey as typeof startKey;
  } while (startKey);
  return items;
}

/** Every image the table's stream recorded for each reminder item (INSERT and MODIFY). */
async function streamImages(): Promise<Map<string, Set<string>>> {
  const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: table }));
  const images = new Map<string, Set<string>>();
  let shardStart: string | undefined;
  const shards: string[] = [];
  do {
    const d = await streams.send(
      new DescribeStreamCommand({ StreamArn: Table!.LatestStreamArn!, ExclusiveStartShardId: shardStart }),
    );
    shards.push(...(d.StreamDescription?.Shards ?? []).map((s) => s.ShardId!));
    shardStart = d.StreamDescription?.LastEvaluatedShardId;
  } while (shardStart);
  for (const shardId of shards) {
    let iterator = (
      await streams.send(
        new GetShardIteratorCommand({
          StreamArn: Table!.LatestStreamArn!,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (iterator) {
      const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      for (const r of out.Records ?? []) {
        const image = r.dynamodb?.NewImage;
        if (!image) continue;
        const item = unmarshall(image as never);
        if (item.type !== 'reminder') continue;
        const key = `${item.PK}|${item.SK}`;
        if (!images.has(key)) images.set(key, new Set());
        images.get(key)!.add(stable(item));
      }
      if ((out.Records ?? []).length === 0) break;
      iterator = out.NextShardIterator;
    }
  }
  return images;
}

const stable = (o: Record<string, unknown>) =>
  JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))));

async function bucketObjects(): Promise<{ key: string; etag: string; body: string }[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const out: { key: string; etag: string; body: string }[] = [];
  for (const o of listed.Contents ?? []) {
    const body = await (
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))
    ).Body!.transformToString();
    out.push({ key: o.Key!, etag: o.ETag!, body });
  }
  return out;
}

const rows = scoringRows(campaignId, 'lax', FANS);

beforeAll(async () => {
  admin = kafka.admin();
  await Promise.all([admin.connect(), mongo.connect(), producer.connect()]);
  await createTopic(admin, { topic: topics.requests, numPartitions: 1 });
  await createTopic(admin, { topic: topics.exports, numPartitions: 1 });
  for (const g of Object.values(groups)) await createTopic(admin, { topic: `${g}.dlt`, numPartitions: 1 });
  await codec.register(topics.requests, loadSchema('notification-request'));
  await codec.register(topics.exports, loadSchema('export-request'));
  await new DemandTable(dynamo, table).ensureTable();
  await new MongoCampaignStore(db()).init();
  await new MongoScoringStore(db()).init();
  await state().init();
  await new MongoCampaignStore(db()).create(closedCampaign(campaignId), []);
  // selection's results as selection leaves them (seeding is not what is tested: bulk inserts)
  for (let i = 0; i < rows.length; i += 1_000)
    await db()
      .collection('scoring_rows')
      .insertMany(
        rows
          .slice(i, i + 1_000)
          .map((r) => ({ _id: `${r.campaignId}:${r.marketId}:${r.globalUserId}`, ...r })) as never[],
      );
  for (let i = 0; i < rows.length; i += 1_000)
    await db()
      .collection('users')
      .insertMany(
        rows.slice(i, i + 1_000).map((r) => ({
          _id: r.globalUserId,
          globalUserId: r.globalUserId,
          email: `${r.globalUserId}@example.com`,
          firstName: 'Fan',
          lastName: r.globalUserId,
          version: 1,
          updatedAt: '2026-10-30T00:00:00.000Z',
        })) as never[],
      );
}, 120_000);

afterAll(async () => {
  for (const c of children)
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await producer.disconnect();
  await admin?.disconnect();
  await db()
    .dropDatabase()
    .catch(() => {});
  await mongo.close();
  await dynamo.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
  dynamo.destroy();
  streams.destroy();
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
  for (const o of listed?.Contents ?? [])
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! })).catch(() => {});
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
  s3.destroy();
});

describe('kill -9 of the notification processors mid-run', () => {
  it('notification-generator: killed mid-write, then after date.notified before the commit; the restart ends in the same state, nothing rewritten differently, notified once', async () => {
    const request: NotificationRequest = {
      requestId: `${campaignId}:lax@${SCENARIO_NOTIFY_AT.toISOString()}`,
      campaignId,
      marketId: 'lax',
      notificationAt: SCENARIO_NOTIFY_AT.getTime(),
      presaleAt: Date.parse(SCENARIO_PRESALE),
      tickId: 'test',
      requestedAt: SCENARIO_NOTIFY_AT.getTime(),
    };
    await producer.send({
      topic: topics.requests,
      messages: [{ key: `${campaignId}:lax`, value: await codec.encode(topics.requests, request) }],
      acks: -1,
    });

    // 1. killed once 20 of its 120 BatchWriteItems have landed (up to 15 more in flight)
    await killedBy(start('generator', '2026-11-02T17:30:00Z', 'kill-after-batches:20'), 'kill-after-batches');
    const partial = await reminderItems();
    expect(partial.size).toBeGreaterThanOrEqual(20 * 25);
    expect(partial.size).toBeLessThan(FANS);
    expect((await state().getMarket(campaignId, 'lax'))?.notified).toBeUndefined();

    // 2. the restart writes the market and marks it notified, then dies before its Kafka commit
    await killedBy(start('generator', '2026-11-02T17:31:00Z', 'kill-before-commit:1'), 'kill-before-commit');
    const notified = await state().getMarket(campaignId, 'lax');
    expect(notified).toMatchObject({ notified: new Date('2026-11-02T17:31:00Z'), recordsWritten: FANS });

    // 3. the request comes again: the market is skipped, its mark kept
    const last = start('generator', '2026-11-02T17:32:00Z');
    await last.waitForEvent('started', 120_000);
    await drained(groups.generator, topics.requests);
    expect(last.output()).toContain('market already notified: skipped');
    expect(await state().getMarket(campaignId, 'lax')).toEqual(notified);

    // the same items as one undisturbed run writes: one per eligible fan with a body
    const campaign = closedCampaign(campaignId);
    const m = campaign.markets[0]!;
    const expected = reminderRecords(
      { id: campaignId, name: campaign.name },
      {
        id: 'lax',
        campaignId,
        presaleAt: new Date(m.presale.startsAt),
        timezone: m.presale.timeZone,
        eventLink: m.event.url,
      },
      rows.map((r) => ({
        globalUserId: r.globalUserId,
        verdict: r.verdict ?? null,
        phoneNumber: r.phone ?? null,
        code: r.code ? { marketId: r.marketId, value: r.code } : null,
        locale: r.locale,
      })),
    ).records;
    expect(expected).toHaveLength(FANS);
    const items = await reminderItems();
    expect(items.size).toBe(FANS);
    for (const r of expected) expect(items.get(`${r.PK}|${r.SK}`)).toEqual({ ...r, type: 'reminder' });
    // every change the stream saw of an item carried that same content
    const images = await streamImages();
    expect(images.size).toBe(FANS);
    const rewritten = [...images].filter(([, contents]) => contents.size !== 1).map(([k]) => k);
    expect(rewritten).toEqual([]);
    for (const [key, contents] of images) expect([...contents][0]).toBe(stable(items.get(key)!));
    await last.stop();
  }, 600_000);

  it('export-writer: killed after the upload, then after the update before the commit; one object in the bucket, the date handled once', async () => {
    const dueAt = new Date('2026-11-01T16:00:00.000Z');
    await state().setReminderEmailDates(campaignId, [dueAt]);
    const request: ExportRequest = {
      exportId: `${campaignId}@${dueAt.toISOString()}`,
      kind: 'REMINDER_EMAILS',
      campaignId,
      dueAt: dueAt.getTime(),
      tickId: 'test',
      requestedAt: Date.parse('2026-11-01T16:00:00Z'),
    };
    await producer.send({
      topic: topics.exports,
      messages: [{ key: campaignId, value: await codec.encode(topics.exports, request) }],
      acks: -1,
    });

    // 1. killed right after the upload: the object is there, the date still pending
    await killedBy(start('exporter', '2026-11-01T16:00:00Z', 'kill-after-upload'), 'kill-after-upload');
    const uploaded = await bucketObjects();
    expect(uploaded.map((o) => o.key)).toEqual([
      `reminder-emails/${campaignId}/2026-11-01T16:00:00.000Z.csv`,
    ]);
    expect(uploaded[0]!.body.split('\r\n')).toHaveLength(1 + FANS + 2 + 1); // header, winners, x-uk, x-german, ''
    expect((await state().getReminderEmails(campaignId))?.sendReminderEmails).toEqual([dueAt]);

    // the recipients change before the rerun (a profile is gone): a rerun that rewrote the file
    // would write different content
    await db()
      .collection('users')
      .deleteOne({ _id: 'fan-000000' as never });

    // 2. the rerun keeps the object, completes the date, dies before its Kafka commit
    await killedBy(start('exporter', '2026-11-01T16:01:00Z', 'kill-before-commit:1'), 'kill-before-commit');
    const completed = await state().getReminderEmails(campaignId);
    expect(completed).toMatchObject({
      sendReminderEmails: [],
      triggeredEmailReminders: new Date('2026-11-01T16:01:00Z'),
      triggered: [{ dueAt, triggeredAt: new Date('2026-11-01T16:01:00Z') }],
    });

    // 3. the request comes again: already handled, nothing written
    const last = start('exporter', '2026-11-01T16:02:00Z');
    await last.waitForEvent('started', 120_000);
    await drained(groups.exporter, topics.exports);
    expect(last.output()).toContain('reminder email date already handled: skipped');
    expect(await bucketObjects()).toEqual(uploaded);
    expect(await state().getReminderEmails(campaignId)).toEqual(completed);
    await last.stop();
  }, 600_000);
});
