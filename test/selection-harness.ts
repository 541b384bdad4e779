import { BatchWriteItemCommand, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Admin, Kafka } from 'kafkajs';
import type { Db } from 'mongodb';
import { type Campaign, parseCampaignDefinition } from '../campaigns/campaign.ts';
import { readTopic } from '../cli/tail.ts';
import type { Codec } from '../runtime/codec.ts';
import type { SelectionStats } from '../schemas/types.generated.ts';
import { mapLimit } from '../stores/codes.ts';
import { unmarshalItem } from '../stores/demand-table.ts';
import { MongoScoringStore } from '../stores/scoring.ts';
import { createTopic } from '../topology/admin.ts';

// Shared by the selection integration test and benchmark: a closed campaign, DynamoDB entry items
// and scoring rows (what replication keeps) for many fans, and a reader of the stats topic.

export function closedCampaign(
  id: string,
  markets: Array<{ id: string; ticketer: 'TM' | 'OTHER' }>,
  closedAt: Date,
): Campaign {
  const def = parseCampaignDefinition({
    id,
    name: `Selection test ${id}`,
    status: 'CLOSED',
    gate: { inviteOnly: false, idvRequired: false },
    fields: { required: ['email'] },
    markets: markets.map((m) => ({
      id: m.id,
      name: m.id,
      ticketer: m.ticketer,
      presale: { startsAt: '2027-03-01T10:00:00-08:00', timeZone: 'America/Los_Angeles' },
      event: { id: `evt-${m.id}`, url: 'https://tickets.example.com/e/1' },
      locales: ['en-US'],
    })),
  });
  const { invites: _i, ...rest } = def;
  const at = closedAt.toISOString();
  return {
    ...rest,
    status: 'CLOSED',
    closedAt: at,
    version: 1,
    inviteCount: 0,
    date: { created: at, updated: at },
  };
}

/** The names of one selection test run: its topics, database, table and campaign, under `base`. */
export function selectionRun(base: string, mongoUrl: string) {
  const dbName = base.replace(/-/g, '_');
  const table = `${base}-demand`;
  return {
    base,
    dbName,
    table,
    campaignId: `camp-${base.slice(-6)}`,
    topics: {
      requests: `${base}.selection.requests`,
      results: `${base}.selection.results`,
      stats: `${base}.selection.stats`,
      counts: `${base}.verdicts.counts`,
      changes: `${base}.demand.changes`,
      checkpoints: `${base}.connector.checkpoints`,
    },
    /** What test/fixtures/selection-process.ts needs (plus FIXTURE_RUN). */
    childEnv: {
      FIXTURE_BASE: base,
      REGFLOW_MONGODB_URL: `mongodb://${new URL(mongoUrl).host}/${dbName}`,
      REGFLOW_DEMAND_TABLE: table,
      REGFLOW_LOG_LEVEL: process.env.FIXTURE_LOG_LEVEL ?? 'warn',
    } as Record<string, string>,
  };
}

/**
 * The run's topics (stats and checkpoints compacted, one partition; the rest `partitions`) and
 * each processor's DLT; returns every topic it created.
 */
export async function createSelectionTopics(
  admin: Admin,
  run: ReturnType<typeof selectionRun>,
  partitions = 3,
): Promise<string[]> {
  for (const [key, topic] of Object.entries(run.topics)) {
    const compacted = key === 'stats' || key === 'checkpoints';
    await createTopic(admin, {
      topic,
      numPartitions: compacted ? 1 : partitions,
      ...(compacted ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}),
    });
  }
  const dlts = ['planner', 'saver', 'marker', 'reporter'].map((p) => `${run.base}-${p}.dlt`);
  for (const topic of dlts) await createTopic(admin, { topic, numPartitions: partitions });
  return [...Object.values(run.topics), ...dlts];
}

export const fanId = (i: number) => `fan-${String(i).padStart(7, '0')}`;

/** Entry items of fans [from, to) in the demand-table (BatchWriteItem of 25, `concurrency` in flight). */
export async function writeEntries(
  dynamo: DynamoDBClient,
  table: string,
  campaignId: string,
  from: number,
  to: number,
  marketsOf: (i: number) => string[],
  concurrency = 8,
): Promise<void> {
  const chunks: number[][] = [];
  for (let i = from; i < to; i += 25)
    chunks.push(Array.from({ length: Math.min(25, to - i) }, (_, k) => i + k));
  await mapLimit(chunks, concurrency, async (chunk) => {
    let items = chunk.map((i) => ({
      PutRequest: {
        Item: {
          PK: { S: `fan:${fanId(i)}` },
          SK: { S: `entry#${campaignId}` },
          type: { S: 'entry' },
          campaignId: { S: campaignId },
          globalUserId: { S: fanId(i) },
          email: { S: `${fanId(i)}@example.com` },
          locale: { S: 'en-US' },
          markets: { L: marketsOf(i).map((m) => ({ S: m })) },
          version: { N: '1' },
        },
      },
    }));
    for (let attempt = 0; items.length > 0 && attempt < 20; attempt++) {
      const out = await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [table]: items } }));
      items = (out.UnprocessedItems?.[table] ?? []) as typeof items;
    }
  });
}

/**
 * Scoring rows as replication keeps them (the scoring store's document shape: `_id`
 * campaign:market:fan), inserted in bulk: the store's per-fan writes are for replication's pace,
 * not for seeding a million rows.
 */
export async function writeScoringRows(
  db: Db,
  campaignId: string,
  marketId: string,
  from: number,
  to: number,
  score: (i: number) => number | undefined,
): Promise<void> {
  await new MongoScoringStore(db).init();
  const rows = db.collection('scoring_rows');
  const chunks: number[] = [];
  for (let i = from; i < to; i += 1000) chunks.push(i);
  await mapLimit(chunks, 4, async (start) => {
    const docs = Array.from({ length: Math.min(1000, to - start) }, (_, k) => {
      const i = start + k;
      const s = score(i);
      return {
        _id: `${campaignId}:${marketId}:${fanId(i)}`,
        campaignId,
        marketId,
        globalUserId: fanId(i),
        locale: 'en-US',
        entryVersion: 1,
        ...(s === undefined ? {} : { score: s }),
      };
    });
    await rows.insertMany(docs as never[], { ordered: false });
  });
}

/** Every stats record, latest per key. */
export async function readStats(
  kafka: Kafka,
  admin: Admin,
  codec: Codec,
  topic: string,
): Promise<Map<string, SelectionStats>> {
  const latest = new Map<string, SelectionStats>();
  await readTopic(kafka, admin, {
    topic,
    startAt: (r) => r.low,
    onRecords: async (records) => {
      for (const r of records) {
        if (r.value === null) continue;
        latest.set(r.key?.toString('utf8') ?? '', (await codec.decode(r.value)) as SelectionStats);
      }
    },
  });
  return latest;
}

/** Every verdict of a market in DynamoDB (a consistent scan): globalUserId → {verdict, code, runId}. */
export async function dynamoVerdicts(dynamo: DynamoDBClient, table: string, marketId: string) {
  const out = new Map<string, { verdict: boolean; code?: string; runId: string }>();
  let start: Record<string, never> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({
        TableName: table,
        ProjectionExpression: 'globalUserId, #s',
        ExpressionAttributeNames: { '#s': `selection#${marketId}` },
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    for (const item of page.Items ?? []) {
      const plain = unmarshalItem(item);
      const v = plain[`selection#${marketId}`] as
        | { verdict: boolean; code?: string; runId: string }
        | undefined;
      if (v) out.set(plain.globalUserId as string, v);
    }
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  return out;
}
