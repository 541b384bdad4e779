import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { loadConfig } from '../config/index.ts';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { runConnector } from '../connectors/dynamodb-streams/connector.ts';
import { createDynamoDb, createKafka, createMongo, createSchemaRegistry } from '../lib/clients.ts';
import { systemClock } from '../lib/clock.ts';
import { waitFor } from '../lib/retry.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import { SelectionStore } from '../selection/store.ts';
import { connectorPastClose, sendSelectionRequest } from '../selection/trigger.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { MongoCodeStore, mapLimit } from '../stores/codes.ts';
import { createDemandTable } from '../test/connector-harness.ts';
import {
  closedCampaign,
  fanId,
  readStats,
  writeEntries,
  writeScoringRows,
} from '../test/selection-harness.ts';
import { createTopic } from '../topology/admin.ts';

// `npm run bench -- selection [--fans N] [--winners W]`: Scenario 1 end to end on the real services.
// Seeds N entry items (DynamoDB) and scoring rows (MongoDB), W codes, starts the connector
// in-process and each selection processor in its own process (peak RSS from /proc VmHWM), sends
// one request and measures: request → planner FINISHED, request → every verdict written (VERDICTS
// FINISHED), request → every code assigned. Then, on the same endpoints, the "store limit": a
// plain SDK / driver loop writing the same verdicts (N conditional UpdateItem) and winner rows
// (W updateOne) at the saver's concurrency.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SAVER_CONCURRENCY = 2 * 16; // 2 result records per batch × 16 writes in flight each

function spawnProcessor(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/fixtures/selection-process.ts')],
    {
      cwd: ROOT,
      env: { ...process.env, REGFLOW_HTTP_PORT: '0', REGFLOW_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  child.stdout.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr.on('data', (b: Buffer) => (text += b.toString()));
  let peakKb = 0;
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // exited
    }
  }, 250);
  return {
    started: () =>
      waitFor(async () => text.includes('"event":"started"'), { timeoutMs: 120_000, intervalMs: 100 }),
    output: () => text,
    peakMb: () => Math.round(peakKb / 1024),
    stop: async () => {
      clearInterval(timer);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export async function benchSelection(opts: { fans: number; winners: number }): Promise<void> {
  const { fans, winners } = opts;
  const config = loadConfig();
  const base = `bsel-${Date.now().toString(36)}`;
  const dbName = base.replace(/-/g, '_');
  const table = `${base}-demand`;
  const campaignId = `camp-${base.slice(-6)}`;
  const topics = {
    requests: `${base}.selection.requests`,
    results: `${base}.selection.results`,
    stats: `${base}.selection.stats`,
    counts: `${base}.verdicts.counts`,
    changes: `${base}.demand.changes`,
    checkpoints: `${base}.connector.checkpoints`,
  };
  const kafka = createKafka(config.kafka);
  const admin = kafka.admin();
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  const mongo = createMongo(config.mongodb);
  const dynamo = createDynamoDb(config.dynamodb);
  await admin.connect();
  await mongo.connect();
  const db = mongo.db(dbName);
  const figures: Record<string, unknown> = { fans, winners };
  const t0 = Date.now();
  const stage = (name: string, since: number) => {
    figures[name] = Date.now() - since;
    console.log(`${name}: ${figures[name]} ms`);
  };
  const procs: ReturnType<typeof spawnProcessor>[] = [];
  let connector: Awaited<ReturnType<typeof runConnector>> | undefined;
  try {
    for (const [key, topic] of Object.entries(topics))
      await createTopic(admin, {
        topic,
        numPartitions: key === 'stats' || key === 'checkpoints' ? 1 : 6,
        ...(key === 'stats' || key === 'checkpoints'
          ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }
          : {}),
      });
    for (const p of ['planner', 'saver', 'marker', 'reporter'])
      await createTopic(admin, { topic: `${base}-${p}.dlt`, numPartitions: 6 });
    await codec.register(topics.requests, loadSchema('selection-request'));
    await createDemandTable(dynamo, table);
    let since = Date.now();
    await writeEntries(dynamo, table, campaignId, 0, fans, () => ['LA'], 16);
    stage('seedEntriesMs', since);
    since = Date.now();
    await writeScoringRows(db, campaignId, 'LA', 0, fans, (i) => i % 100);
    stage('seedScoringRowsMs', since);
    const codes = new MongoCodeStore(db);
    await codes.init();
    await codes.importCodes(
      campaignId,
      'LA',
      Array.from({ length: winners }, (_, i) => `C${String(i).padStart(7, '0')}`),
    );
    await new SelectionStore(db).init();
    const closedAt = new Date();
    await new MongoCampaignStore(db).create(
      closedCampaign(campaignId, [{ id: 'LA', ticketer: 'OTHER' }], closedAt),
      [],
    );

    since = Date.now();
    connector = await runConnector({
      config: loadConfig({ ...process.env, REGFLOW_HTTP_PORT: '0', REGFLOW_LOG_LEVEL: 'warn' }),
      table,
      name: base,
      topics: { changes: topics.changes, checkpoints: topics.checkpoints },
      pollIntervalMs: 200,
      checkpointRefreshMs: 1_000,
    });
    await waitFor(
      async () =>
        (
          await connectorPastClose(
            kafka,
            admin,
            codec,
            topics.checkpoints,
            connectorIdOf(base, table),
            closedAt,
          )
        ).ok,
      {
        timeoutMs: 900_000,
        intervalMs: 2_000,
      },
    );
    stage('connectorCatchUpMs', since);

    const env = {
      FIXTURE_BASE: base,
      REGFLOW_MONGODB_URL: `mongodb://${new URL(config.mongodb.url).host}/${dbName}`,
      REGFLOW_DEMAND_TABLE: table,
      FIXTURE_MIN_RESERVE: '500',
    };
    const names = ['planner', 'saver', 'marker', 'reporter'];
    for (const n of names)
      procs.push(
        spawnProcessor({
          ...env,
          FIXTURE_RUN: n,
          REGFLOW_KAFKA_SESSION_TIMEOUT_MS: n === 'planner' ? '300000' : '60000',
        }),
      );
    for (const p of procs)
      if (!(await p.started())) throw new Error(`a processor did not start: ${p.output().slice(-2000)}`);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const requestedAt = Date.now();
    const req = await sendSelectionRequest(
      producer,
      codec,
      topics.requests,
      { campaignId, marketId: 'LA', winners, requestedBy: 'bench' },
      systemClock,
    );
    await producer.disconnect();
    const key = `${campaignId}|LA|${req.runId}`;
    let finishedAt = 0;
    let verdictsAt = 0;
    let codesAt = 0;
    await waitFor(
      async () => {
        const stats = await readStats(kafka, admin, codec, topics.stats);
        if (!finishedAt && stats.get(key)?.status === 'FINISHED') finishedAt = Date.now();
        if (stats.get(key)?.status === 'FAILED') throw new Error(`run failed: ${stats.get(key)?.reason}`);
        if (!verdictsAt && stats.get(`${key}|verdicts`)?.status === 'FINISHED') verdictsAt = Date.now();
        if (!codesAt && (await codes.counts(campaignId, 'LA'))[0]?.assigned === winners) codesAt = Date.now();
        return finishedAt > 0 && verdictsAt > 0 && codesAt > 0;
      },
      { timeoutMs: 3_600_000, intervalMs: 500 },
    );
    figures.requestToFinishedMs = finishedAt - requestedAt;
    figures.requestToVerdictsWrittenMs = verdictsAt - requestedAt;
    figures.requestToCodesAssignedMs = codesAt - requestedAt;
    figures.endToEndMs = Math.max(verdictsAt, codesAt) - requestedAt;
    figures.peakRssMb = Object.fromEntries(names.map((n, i) => [n, procs[i]!.peakMb()]));
    for (const p of procs) await p.stop();
    procs.length = 0;

    // The store limit: the same writes from a plain loop at the saver's concurrency.
    const limitTable = `${base}-limit`;
    await createDemandTable(dynamo, limitTable, false);
    await writeEntries(dynamo, limitTable, campaignId, 0, fans, () => ['LA'], 16);
    since = Date.now();
    const ids = Array.from({ length: fans }, (_, i) => i);
    await mapLimit(ids, SAVER_CONCURRENCY, (i) =>
      dynamo.send(
        new UpdateItemCommand({
          TableName: limitTable,
          Key: { PK: { S: `fan:${fanId(i)}` }, SK: { S: `entry#${campaignId}` } },
          UpdateExpression: 'SET #s = :v',
          ConditionExpression: 'attribute_exists(PK) AND attribute_not_exists(#s)',
          ExpressionAttributeNames: { '#s': 'selection#LA' },
          ExpressionAttributeValues: {
            ':v': { M: { verdict: { BOOL: i < winners }, runId: { S: 'limit' } } },
          },
        }),
      ),
    );
    figures.storeLimitDynamoMs = Date.now() - since;
    since = Date.now();
    const rows = db.collection<{ _id: string }>('scoring_rows');
    await mapLimit(ids.slice(0, winners), SAVER_CONCURRENCY, (i) =>
      rows.updateOne({ _id: `${campaignId}:LA:${fanId(i)}` }, { $set: { limitProbe: true } }),
    );
    figures.storeLimitMongoMs = Date.now() - since;
    figures.storeLimitMs = (figures.storeLimitDynamoMs as number) + (figures.storeLimitMongoMs as number);
    figures.ratioToStoreLimit = Number(
      ((figures.endToEndMs as number) / (figures.storeLimitMs as number)).toFixed(2),
    );
    figures.totalBenchMs = Date.now() - t0;
    console.log(
      `request → FINISHED ${figures.requestToFinishedMs} ms; → verdicts written ${figures.requestToVerdictsWrittenMs} ms; → codes assigned ${figures.requestToCodesAssignedMs} ms`,
    );
    console.log(
      `store limit (plain loop, concurrency ${SAVER_CONCURRENCY}): DynamoDB ${figures.storeLimitDynamoMs} ms + MongoDB ${figures.storeLimitMongoMs} ms; ratio ${figures.ratioToStoreLimit}`,
    );
    console.log(`peak RSS (MB): ${JSON.stringify(figures.peakRssMb)}`);
  } finally {
    for (const p of procs) await p.stop();
    await connector?.stop();
    await db.dropDatabase().catch(() => {});
    await admin.disconnect();
    await mongo.close();
    dynamo.destroy();
  }
  console.log(`BENCH ${JSON.stringify({ bench: 'selection', ...figures })}`);
}
