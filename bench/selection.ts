import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteTableCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Admin, Kafka } from 'kafkajs';
import { readTopic } from '../cli/tail.ts';
import { loadConfig } from '../config/index.ts';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { runConnector } from '../connectors/dynamodb-streams/connector.ts';
import { createDynamoDb, createKafka, createMongo, createSchemaRegistry } from '../lib/clients.ts';
import { systemClock } from '../lib/clock.ts';
import { waitFor } from '../lib/retry.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import type { SelectionStats } from '../schemas/types.generated.ts';
import { SelectionStore } from '../selection/store.ts';
import { connectorPastClose, sendSelectionRequest } from '../selection/trigger.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { MongoCodeStore, mapLimit, retried } from '../stores/codes.ts';
import { createDemandTable } from '../test/connector-harness.ts';
import {
  closedCampaign,
  createSelectionTopics,
  fanId,
  selectionRun,
  writeEntries,
  writeScoringRows,
} from '../test/selection-harness.ts';
import { dropDatabaseWhenQuiet } from '../test/support.ts';
import { topicLag } from '../topology/admin.ts';

// `npm run bench -- selection [--fans N] [--winners W]`: Scenario 1 end to end on the real services.
// Seeds N entry items (DynamoDB, BatchWriteItem) and scoring rows (MongoDB, insertMany), W codes,
// starts the connector in-process and each selection processor in its own process (peak RSS from
// /proc VmHWM) with the default session timeout, waits until code-marker has read the registrations'
// changes (as it would have long before a real draw), sends one request and measures: request →
// planner FINISHED (with the planner's own stage times), request → every verdict written (VERDICTS
// FINISHED), request → every code assigned. Then, on the same endpoints and the same table, the
// "store limit": a plain SDK / driver loop doing the same writes at the saver's concurrency — N
// conditional UpdateItem (DynamoDB), and the pipeline's 4 MongoDB writes per winner (claim,
// reserve, the winner's row, assign) — and, named apart, a plain read of the market's rows (the
// planner's two passes). The machine is shared: the load average is printed with the figures.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Verdict writes the saver has in flight: 3 partitions at once × 2 results per batch × 16 writes
 * each, capped by the AWS SDK's 50 sockets per client.
 */
const SAVER_CONCURRENCY = Math.min(3 * 2 * 16, 50);
/** MongoDB writes of the pipeline in flight (the saver's 16 per result, the code store's 8 per claim slice). */
const MONGO_CONCURRENCY = 16;

/** The stats records by key: the latest value, when it was written, and when the key first was. */
async function readStatsTimed(kafka: Kafka, admin: Admin, codec: Codec, topic: string) {
  const out = new Map<string, { latest: SelectionStats; at: number; firstAt: number }>();
  await readTopic(kafka, admin, {
    topic,
    startAt: (r) => r.low,
    onRecords: async (records) => {
      for (const r of records) {
        if (r.value === null) continue;
        const key = r.key?.toString('utf8') ?? '';
        const latest = (await codec.decode(r.value)) as SelectionStats;
        out.set(key, { latest, at: r.timestamp, firstAt: out.get(key)?.firstAt ?? r.timestamp });
      }
    },
  });
  return out;
}

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/**
 * Compiles the processors' fixture (and what it imports) to JavaScript with `npm run build`'s
 * script and options, under .regflow/tmp; returns its entry point. Without it the processors run
 * through tsx, whose loader adds ~60 MB of RSS to each (the issue's memory goal is about the
 * processors, not tsx).
 */
function compileFixture(): string {
  const out = join(ROOT, '.regflow/tmp/selection-bench-dist');
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'scripts/build.mjs'),
      '--out-dir',
      out,
      '--no-check',
      '--entry',
      'test/fixtures/selection-process.ts',
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
  return join(out, 'test/fixtures/selection-process.js');
}

function spawnProcessor(env: Record<string, string>, compiled?: string) {
  const child = spawn(
    process.execPath,
    compiled ? [compiled] : ['--import', 'tsx', join(ROOT, 'test/fixtures/selection-process.ts')],
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
    /** Resident memory now (VmRSS), MB; null once exited. */
    rssMb: () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Math.round(Number(m[1]) / 1024) : null;
      } catch {
        return null;
      }
    },
    stop: async () => {
      clearInterval(timer);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/**
 * The planner's stage times from its log lines: the request's call ('selection run ranked': the
 * pass over the market, code reservation), each page of losers ('selection losers page': its time,
 * whether it resumed the previous page's cursor), and the run's end ('selection run planned').
 */
export function plannerStagesOf(output: string) {
  const lines = output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as { msg?: string; time?: string; [k: string]: unknown };
      } catch {
        return {};
      }
    });
  const ranked = lines.find((l) => l.msg === 'selection run ranked');
  const pages = lines.filter((l) => l.msg === 'selection losers page');
  const pageMs = pages.map((p) => Number(p.ms ?? 0));
  const planned = lines.find((l) => l.msg === 'selection run planned');
  return {
    // (A planner from before pages logged its stages on the planned line.)
    ...(((ranked ?? planned)?.stagesMs as object | undefined) ?? {}),
    pages: pages.length,
    pagesMs: pageMs.reduce((a, b) => a + b, 0),
    pageMaxMs: pageMs.length > 0 ? Math.max(...pageMs) : 0,
    pagesResumed: pages.filter((p) => p.resumed === true).length,
    // From the ranked line to the planned line: the pages with their transactions in between.
    rankedToPlannedMs:
      ranked?.time && planned?.time ? Date.parse(planned.time) - Date.parse(ranked.time) : null,
  };
}

/** DynamoDB writes timed in --planner-only mode, to project the store limit of `fans` verdicts. */
const DYNAMO_SAMPLE = 10_000;
/** Winners whose 4 MongoDB writes are timed for the store limit (projected to all winners). */
const MONGO_SAMPLE = 50;

export async function benchSelection(opts: {
  fans: number;
  winners: number;
  /**
   * Only the planner (request → FINISHED, its RSS and stages) on `fans` scoring rows, and the
   * DynamoDB verdict rate timed on a sample, projected to `fans`: for sizes whose verdict writes
   * take hours on moto (1,000,000 at ~150-300 UpdateItem/s).
   */
  plannerOnly?: boolean;
  /** How long the run may take before the bench reports it incomplete and moves on (minutes). */
  maxMinutes?: number;
  /** The planner's rows per page of losers (FIXTURE_PAGE_SIZE); the processor's default otherwise. */
  pageSize?: number;
  /** False: no plain-loop store limit after the run (a planner-only run at 1,000,000 measures the planner). */
  storeLimit?: boolean;
  /**
   * A database an earlier run of this bench left seeded (killed before its cleanup): its scoring
   * rows, codes and campaign are used as they are (seeding 1,000,000 rows takes ~15 min here); it
   * is dropped at the end like any.
   */
  reuseDb?: string;
  /** Run the processors compiled to JavaScript (compileFixture) instead of through tsx. */
  compiled?: boolean;
}): Promise<void> {
  const maxRunMs = (opts.maxMinutes ?? 30) * 60_000;
  const { fans, winners } = opts;
  const plannerOnly = opts.plannerOnly ?? false;
  const storeLimit = opts.storeLimit ?? true;
  const dynamoFans = plannerOnly ? (storeLimit ? Math.min(fans, DYNAMO_SAMPLE) : 0) : fans;
  const config = loadConfig();
  const compiled = opts.compiled ? compileFixture() : undefined;
  const run = selectionRun(`bsel-${Date.now().toString(36)}`, config.mongodb.url);
  const { base, table, topics } = run;
  const dbName = opts.reuseDb ?? run.dbName;
  let campaignId = run.campaignId;
  let createdTopics: string[] = [];
  const names = plannerOnly ? (['planner'] as const) : (['planner', 'saver', 'marker', 'reporter'] as const);
  const kafka = createKafka(config.kafka);
  const admin = kafka.admin();
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  const mongo = createMongo(config.mongodb);
  const dynamo = createDynamoDb(config.dynamodb);
  await admin.connect();
  await mongo.connect();
  const db = mongo.db(dbName);
  const figures: Record<string, unknown> = {
    fans,
    winners,
    mode: plannerOnly ? 'planner-only' : 'end-to-end',
    processes: opts.compiled ? 'compiled' : 'tsx',
    ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
    loadAverage: { start: loadAverage() },
  };
  const load = figures.loadAverage as Record<string, string>;
  const t0 = Date.now();
  const stage = (name: string, since: number) => {
    figures[name] = Date.now() - since;
    console.log(`${name}: ${figures[name]} ms`);
  };
  const procs: ReturnType<typeof spawnProcessor>[] = [];
  let connector: Awaited<ReturnType<typeof runConnector>> | undefined;
  let tableCreated = false;
  try {
    createdTopics = await createSelectionTopics(admin, run, 6);
    await codec.register(topics.requests, loadSchema('selection-request'));
    await createDemandTable(dynamo, table);
    tableCreated = true;
    // The two stores are seeded side by side (BatchWriteItem of 25, 16 in flight; insertMany).
    let since = Date.now();
    const codes = new MongoCodeStore(db);
    const reused = opts.reuseDb ? await db.collection<{ _id: string }>('campaigns').findOne({}) : null;
    if (opts.reuseDb && !reused) throw new Error(`--reuse-db ${opts.reuseDb}: no campaign in it`);
    if (reused) campaignId = reused._id;
    await Promise.all([
      writeEntries(dynamo, table, campaignId, 0, dynamoFans, () => ['LA'], 16).then(() =>
        stage('seedEntriesMs', since),
      ),
      (async () => {
        if (reused) return; // seeded by the earlier run: its rows, its codes (some reserved by it), its campaign
        await writeScoringRows(db, campaignId, 'LA', 0, fans, (i) => i % 100);
        stage('seedScoringRowsMs', since);
        await codes.init();
        // The pool as `regflow codes import` leaves it, inserted in bulk (the import's per-code
        // idempotent upserts take minutes for 10,000 codes on FerretDB).
        const importedAt = new Date().toISOString();
        for (let i = 0; i < winners; i += 5_000)
          await codes.codes.insertMany(
            Array.from({ length: Math.min(5_000, winners - i) }, (_, k) => {
              const code = `C${String(i + k).padStart(7, '0')}`;
              return {
                _id: `${campaignId}:LA:${code}`,
                campaignId,
                marketId: 'LA',
                code,
                status: 'available' as const,
                importedAt,
              };
            }),
          );
        stage('seedCodesMs', since);
      })(),
    ]);
    await new SelectionStore(db).init();
    const closedAt = new Date();
    if (!reused)
      await new MongoCampaignStore(db).create(
        closedCampaign(campaignId, [{ id: 'LA', ticketer: 'OTHER' }], closedAt),
        [],
      );

    // The connector and the processors start together: code-marker reads the registrations'
    // changes while the connector is still catching up (a real one has read them long before).
    since = Date.now();
    if (!plannerOnly)
      connector = await runConnector({
        config: loadConfig({ ...process.env, REGFLOW_HTTP_PORT: '0', REGFLOW_LOG_LEVEL: 'warn' }),
        table,
        name: base,
        topics: { changes: topics.changes, checkpoints: topics.checkpoints },
        pollIntervalMs: 200,
        checkpointRefreshMs: 1_000,
      });
    const env = {
      ...run.childEnv,
      REGFLOW_MONGODB_URL: `mongodb://${new URL(config.mongodb.url).host}/${dbName}`, // --reuse-db
      FIXTURE_MIN_RESERVE: '500',
      ...(opts.pageSize ? { FIXTURE_PAGE_SIZE: String(opts.pageSize) } : {}),
    };
    // The default session timeout for all: the planner and the saver heartbeat from their handlers.
    // The planner logs at info: its 'selection run planned' line carries its stage times.
    for (const n of names)
      procs.push(
        spawnProcessor(
          { ...env, FIXTURE_RUN: n, ...(n === 'planner' ? { REGFLOW_LOG_LEVEL: 'info' } : {}) },
          compiled,
        ),
      );
    for (const p of procs)
      if (!(await p.started())) throw new Error(`a processor did not start: ${p.output().slice(-2000)}`);
    stage('processorsStartMs', since);
    const caughtUp =
      plannerOnly ||
      (await waitFor(
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
        { timeoutMs: 1_800_000, intervalMs: 2_000 },
      ));
    if (!caughtUp) throw new Error('the connector did not read past the close in 30 minutes');
    if (!plannerOnly) {
      stage('connectorCatchUpMs', since);
      const markerIdle = await waitFor(
        async () => (await topicLag(admin, `${base}-marker`, [topics.changes])).every((p) => p.lag <= 1),
        { timeoutMs: 1_800_000, intervalMs: 1_000 },
      );
      if (!markerIdle) throw new Error('code-marker did not catch up with the registrations in 30 minutes');
      stage('markerCatchUpMs', since);
    }

    load.request = loadAverage();
    // Each processor's resident memory when the request goes out (started, idle): its peak is above it.
    figures.rssAtRequestMb = Object.fromEntries(names.map((n, i) => [n, procs[i]!.rssMb()]));
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
    // Polled once a second for the end; the times come from the records themselves (the stats'
    // Kafka timestamps, the codes' assignedAt), not from when a poll saw them.
    let finishedAt = 0;
    let firstCountAt = 0;
    let verdictsAt = 0;
    let codesAt = 0;
    const done = await waitFor(
      async () => {
        const stats = await readStatsTimed(kafka, admin, codec, topics.stats);
        const run = stats.get(key);
        if (run?.latest.status === 'FAILED') throw new Error(`run failed: ${run.latest.reason}`);
        if (run?.latest.status === 'FINISHED') finishedAt = run.at;
        const verdicts = stats.get(`${key}|verdicts`);
        if (verdicts) firstCountAt = verdicts.firstAt;
        if (verdicts?.latest.status === 'FINISHED') verdictsAt = verdicts.at;
        if (plannerOnly) return finishedAt > 0;
        if (!codesAt && (await codes.counts(campaignId, 'LA'))[0]?.assigned === winners) {
          const last = await codes.codes
            .find({ campaignId, marketId: 'LA' }, { projection: { assignedAt: 1 } })
            .toArray();
          codesAt = Math.max(...last.map((c) => Date.parse(c.assignedAt ?? '')));
        }
        return finishedAt > 0 && verdictsAt > 0 && codesAt > 0;
      },
      { timeoutMs: maxRunMs, intervalMs: 1_000 },
    );
    load.end = loadAverage();
    // A run that outlasts --max-minutes is reported as such (with how far it got), not thrown.
    const after = (at: number) => (at > 0 ? at - requestedAt : null);
    if (!done) {
      const stats = await readStatsTimed(kafka, admin, codec, topics.stats);
      figures.incomplete = {
        afterMs: maxRunMs,
        run: stats.get(key)?.latest.status ?? null,
        verdicts: stats.get(`${key}|verdicts`)?.latest ?? null,
        codesAssigned: plannerOnly ? null : ((await codes.counts(campaignId, 'LA'))[0]?.assigned ?? 0),
      };
    }
    figures.requestToFinishedMs = after(finishedAt);
    if (!plannerOnly) {
      figures.requestToFirstVerdictCountMs = after(firstCountAt);
      figures.requestToVerdictsWrittenMs = after(verdictsAt);
      figures.requestToCodesAssignedMs = after(codesAt);
      figures.endToEndMs = done ? Math.max(verdictsAt, codesAt) - requestedAt : null;
    }
    figures.peakRssMb = Object.fromEntries(names.map((n, i) => [n, procs[i]!.peakMb()]));
    const plannerStages = plannerStagesOf(procs[0]!.output());
    figures.stages = {
      planner: plannerStages,
      ...(plannerOnly
        ? {}
        : {
            // From the planner's FINISHED (its transaction committed) to the reporter's VERDICTS FINISHED.
            saverAfterPlannerMs: verdictsAt > 0 ? verdictsAt - finishedAt : null,
            // From the last verdict counted to the last code marked (stream → connector → code-marker).
            codesAfterVerdictsMs: codesAt > 0 && verdictsAt > 0 ? codesAt - verdictsAt : null,
          }),
    };
    // The run's figures now: the store limit after it can take long.
    console.log(
      `run: ${JSON.stringify({ requestToFinishedMs: figures.requestToFinishedMs, endToEndMs: figures.endToEndMs, incomplete: figures.incomplete, stages: figures.stages, peakRssMb: figures.peakRssMb })}`,
    );
    for (const p of procs) await p.stop();
    procs.length = 0;
    await connector?.stop();
    connector = undefined;

    if (!storeLimit) {
      load.afterRun = loadAverage();
      figures.totalBenchMs = Date.now() - t0;
      console.log(`request → FINISHED ${figures.requestToFinishedMs} ms (store limit skipped)`);
      console.log(`stages: ${JSON.stringify(figures.stages)}`);
      console.log(`peak RSS (MB): ${JSON.stringify(figures.peakRssMb)}`);
      console.log(`load average: ${JSON.stringify(load)}`);
      // Nothing prints after this (the cleanup below is silent).
      console.log(`BENCH ${JSON.stringify({ bench: 'selection', ...figures })}`);
      return;
    }
    // The store limit: the same writes from a plain loop, on the same table and database.
    since = Date.now();
    const ids = Array.from({ length: fans }, (_, i) => i);
    await mapLimit(ids.slice(0, dynamoFans), SAVER_CONCURRENCY, (i) =>
      dynamo.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { PK: { S: `fan:${fanId(i)}` }, SK: { S: `entry#${campaignId}` } },
          UpdateExpression: 'SET #s = :v',
          ConditionExpression: 'attribute_exists(PK) AND attribute_not_exists(#s)',
          ExpressionAttributeNames: { '#s': 'limit#LA' },
          ExpressionAttributeValues: {
            ':v': {
              M: {
                verdict: { BOOL: i < winners },
                runId: { S: 'limit' },
                decidedAt: { S: new Date().toISOString() },
                ...(i < winners ? { code: { S: `C${String(i).padStart(7, '0')}` } } : {}),
              },
            },
          },
        }),
      ),
    );
    stage('storeLimitDynamoMs', since);
    if (plannerOnly) {
      // Projected from the sample: moto's UpdateItem cost does not grow with the table.
      figures.storeLimitDynamoSample = { writes: dynamoFans, ms: figures.storeLimitDynamoMs };
      figures.storeLimitDynamoMs = Math.round(((figures.storeLimitDynamoMs as number) * fans) / dynamoFans);
      figures.storeLimitDynamoProjected = true;
    }
    // FerretDB's update scans its collection (seconds a write at 50,000 rows): the pipeline's
    // MongoDB writes are timed on MONGO_SAMPLE winners and projected to all of them.
    since = Date.now();
    const mongoWinners = Math.min(winners, MONGO_SAMPLE);
    const winnerIds = ids.slice(0, mongoWinners);
    const claims = db.collection<{ _id: string }>('limit_claims');
    const codeDocs = db.collection<{ _id: string }>('codes');
    const rows = db.collection<{ _id: string }>('scoring_rows');
    const codeIdOf = (i: number) => `${campaignId}:LA:C${String(i).padStart(7, '0')}`;
    // With the stores' retry of SQLITE_BUSY (FerretDB answers it to concurrent writers).
    await mapLimit(winnerIds, MONGO_CONCURRENCY, async (i) => {
      await retried(() => claims.insertOne({ _id: codeIdOf(i), runId: 'limit' } as never));
      await retried(() => codeDocs.updateOne({ _id: codeIdOf(i) }, { $set: { limitReserved: 'limit' } }));
      await retried(() =>
        rows.updateOne(
          { _id: `${campaignId}:LA:${fanId(i)}` },
          { $set: { limitVerdict: true, limitCode: codeIdOf(i) } },
        ),
      );
      await retried(() => codeDocs.updateOne({ _id: codeIdOf(i) }, { $set: { limitAssignedTo: fanId(i) } }));
    });
    stage('storeLimitMongoMs', since);
    if (mongoWinners < winners) {
      figures.storeLimitMongoSample = { winners: mongoWinners, ms: figures.storeLimitMongoMs };
      figures.storeLimitMongoMs = Math.round(
        ((figures.storeLimitMongoMs as number) * winners) / mongoWinners,
      );
      figures.storeLimitMongoProjected = true;
    }
    // Named apart (reads, not writes): the planner's two passes over the market's rows.
    since = Date.now();
    for (let pass = 0; pass < 2; pass++) {
      const cursor = rows
        .find(
          { campaignId, marketId: 'LA', $or: [{ verdict: { $ne: true } }, { selectedRunId: 'limit' }] },
          { projection: { _id: 0, globalUserId: 1, score: 1 } },
        )
        .batchSize(5000);
      for await (const _ of cursor);
    }
    stage('storeReadTwoPassesMs', since);
    figures.storeLimitMs = (figures.storeLimitDynamoMs as number) + (figures.storeLimitMongoMs as number);
    if (figures.endToEndMs) {
      figures.ratioToStoreLimit = Number(
        ((figures.endToEndMs as number) / (figures.storeLimitMs as number)).toFixed(2),
      );
      figures.ratioToStoreLimitWithReads = Number(
        (
          (figures.endToEndMs as number) /
          ((figures.storeLimitMs as number) + (figures.storeReadTwoPassesMs as number))
        ).toFixed(2),
      );
    }
    load.afterLimit = loadAverage();
    figures.totalBenchMs = Date.now() - t0;
    console.log(
      plannerOnly
        ? `request → FINISHED ${figures.requestToFinishedMs} ms`
        : `request → FINISHED ${figures.requestToFinishedMs} ms; → verdicts written ${figures.requestToVerdictsWrittenMs} ms; → codes assigned ${figures.requestToCodesAssignedMs} ms`,
    );
    console.log(`stages: ${JSON.stringify(figures.stages)}`);
    console.log(
      `store limit (plain loop): DynamoDB ${figures.storeLimitDynamoMs} ms${plannerOnly ? ` (projected from ${dynamoFans} writes)` : ''} (concurrency ${SAVER_CONCURRENCY}) + MongoDB ${figures.storeLimitMongoMs} ms (concurrency ${MONGO_CONCURRENCY}); two read passes ${figures.storeReadTwoPassesMs} ms${figures.endToEndMs ? `; ratio ${figures.ratioToStoreLimit} (${figures.ratioToStoreLimitWithReads} counting the reads)` : ''}`,
    );
    console.log(`peak RSS (MB): ${JSON.stringify(figures.peakRssMb)}`);
    console.log(`load average: ${JSON.stringify(load)}`);
  } finally {
    for (const p of procs) await p.stop();
    await connector?.stop();
    // Leave the shared services as they were: moto keeps every item and stream record in memory.
    if (tableCreated) await dynamo.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
    await admin.deleteTopics({ topics: createdTopics }).catch(() => {});
    await dropDatabaseWhenQuiet(db);
    await admin.disconnect();
    await mongo.close();
    dynamo.destroy();
  }
  console.log(`BENCH ${JSON.stringify({ bench: 'selection', ...figures })}`);
}
