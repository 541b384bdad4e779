import { DeleteTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { Producer } from 'kafkajs';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTopic } from '../../cli/tail.ts';
import { loadConfig } from '../../config/index.ts';
import { connectorIdOf } from '../../connectors/dynamodb-streams/checkpoints.ts';
import { type RunningConnector, runConnector } from '../../connectors/dynamodb-streams/connector.ts';
import { createDynamoDb, createMongo } from '../../lib/clients.ts';
import { systemClock } from '../../lib/clock.ts';
import { waitFor } from '../../lib/retry.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SelectionRequest, SelectionStats } from '../../schemas/types.generated.ts';
import { auditMarket } from '../../selection/draw.ts';
import { SelectionStore } from '../../selection/store.ts';
import {
  checkPreconditions,
  connectorPastClose,
  replicationLag,
  sendSelectionRequest,
} from '../../selection/trigger.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { MongoCodeStore } from '../../stores/codes.ts';
import { unmarshalItem } from '../../stores/demand-table.ts';
import { topicLag } from '../../topology/admin.ts';
import { topology } from '../../topology/index.ts';
import { createDemandTable } from '../connector-harness.ts';
import { codec, type EchoProcess, kafka, spawnFixture } from '../runtime-harness.ts';
import {
  closedCampaign,
  createSelectionTopics,
  dynamoVerdicts as dynamoVerdictsOf,
  fanId,
  readStats,
  selectionRun,
  writeEntries,
  writeScoringRows,
} from '../selection-harness.ts';
import { config, uniqueName } from '../support.ts';

// The rules of the draw on a scaled Scenario 1 (3,000 eligible fans and 50 codes in LA), on the
// real services, with every selection processor in child processes: exact winners with distinct
// codes, losers false without a code, stats, codes assigned; a TM market's shared code; too few
// codes; rows without globalUserId; the refusal before replication caught up; a second wave; a
// redelivered request; a replay of the results from earliest with the saver killed mid-run; audit.
// Scenario 1 at the spec's size (50,000 / 500) is test/integration/scenario1.test.ts.

const FANS = 3_000;
const WINNERS = 50;
const PAGE_SIZE = 700;
const run = selectionRun(uniqueName('sel'), config.mongodb.url);
const { base, dbName, table, campaignId, topics } = run;
const childEnv = {
  ...run.childEnv,
  REGFLOW_KAFKA_SESSION_TIMEOUT_MS: '6000',
  // Pages of 700 rows: LA's 3,003 rows go out in a transaction of winners and 5 of losers.
  FIXTURE_PAGE_SIZE: String(PAGE_SIZE),
};

const mongo = createMongo(config.mongodb);
const dynamo = createDynamoDb(config.dynamodb);
const admin = kafka.admin();
let db: Db;
let codes: MongoCodeStore;
let selection: SelectionStore;
let producer: Producer;
let connector: RunningConnector;
const procs: Record<string, EchoProcess> = {};
let closedAt: Date;

const score = (i: number) => i % 7; // many ties: the seed decides inside each score

async function startProcs(name: string, run: string, extra: Record<string, string> = {}) {
  const p = spawnFixture('test/fixtures/selection-process.ts', { ...childEnv, FIXTURE_RUN: run, ...extra });
  procs[name] = p;
  await p.waitForEvent('started', 120_000);
  return p;
}

async function request(marketId: string, winners: number, runId?: string) {
  return sendSelectionRequest(
    producer,
    codec,
    topics.requests,
    { campaignId, marketId, winners, requestedBy: 'test', runId },
    systemClock,
  );
}

/** The page records the planner wrote back to selection.requests for a run, in order, with their raw value. */
async function pageRecords(runId: string) {
  const out: Array<{ request: SelectionRequest; key: Buffer | null; value: Buffer }> = [];
  await readTopic(kafka, admin, {
    topic: topics.requests,
    startAt: (r) => r.low,
    onRecords: async (records) => {
      for (const r of records) {
        if (r.value === null) continue;
        const request = (await codec.decode(r.value)) as SelectionRequest;
        if (request.runId === runId && request.page) out.push({ request, key: r.key, value: r.value });
      }
    },
  });
  return out.sort((a, b) => a.request.page!.index - b.request.page!.index);
}

async function statsOf(runId: string, marketId: string, kind: '' | '|verdicts' = '') {
  const all = await readStats(kafka, admin, codec, topics.stats);
  return all.get(`${campaignId}|${marketId}|${runId}${kind}`);
}

async function waitStats(
  runId: string,
  marketId: string,
  kind: '' | '|verdicts',
  until: (s: SelectionStats) => boolean,
  timeoutMs = 180_000,
) {
  let last: SelectionStats | undefined;
  const ok = await waitFor(
    async () => {
      last = await statsOf(runId, marketId, kind);
      return last !== undefined && until(last);
    },
    { timeoutMs, intervalMs: 1000 },
  );
  if (!ok) throw new Error(`stats of ${runId}${kind} never matched; last: ${JSON.stringify(last)}`);
  return last!;
}

async function marketRows(marketId: string) {
  return db
    .collection('scoring_rows')
    .find(
      { campaignId, marketId },
      { projection: { _id: 0, globalUserId: 1, score: 1, verdict: 1, code: 1, selectedRunId: 1 } },
    )
    .toArray();
}

/** Every verdict of a market in DynamoDB: globalUserId → {verdict, code, runId}. */
const dynamoVerdicts = (marketId: string) => dynamoVerdictsOf(dynamo, table, marketId);

async function snapshot(marketId: string) {
  const rows = await marketRows(marketId);
  const mongoSide = rows
    .filter((r) => r.verdict !== undefined)
    .map((r) => `${r.globalUserId}:${r.verdict}:${r.code ?? ''}:${r.selectedRunId ?? ''}`)
    .sort();
  const dynamoSide = [...(await dynamoVerdicts(marketId))]
    .map(([g, v]) => `${g}:${v.verdict}:${v.code ?? ''}:${v.runId}`)
    .sort();
  return `${mongoSide.join('\n')}\n--\n${dynamoSide.join('\n')}`;
}

async function audit(marketId: string, sharedCode = false) {
  const seed = await selection.getSeed(campaignId);
  const runs = (await selection.listRuns(campaignId, marketId)).filter((r) => r.status === 'FINISHED');
  return auditMarket(
    seed!.seed,
    (await marketRows(marketId)) as never,
    runs.map((r) => ({ runId: r.runId, winners: r.processed })),
    { sharedCode },
  );
}

async function entryItem(globalUserId: string) {
  const { Item } = await dynamo.send(
    new GetItemCommand({
      TableName: table,
      Key: { PK: { S: `fan:${globalUserId}` }, SK: { S: `entry#${campaignId}` } },
      ConsistentRead: true,
    }),
  );
  return Item ? unmarshalItem(Item) : undefined;
}

beforeAll(async () => {
  await mongo.connect();
  db = mongo.db(dbName);
  codes = new MongoCodeStore(db);
  await codes.init();
  selection = new SelectionStore(db);
  await selection.init();
  await admin.connect();
  await createSelectionTopics(admin, run);
  await codec.register(topics.requests, loadSchema('selection-request'));
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  // Registrations: every fan in LA; fans < 300 also in TM; fans < 100 also in FEW.
  await createDemandTable(dynamo, table);
  const marketsOf = (i: number) => ['LA', ...(i < 300 ? ['TM'] : []), ...(i < 100 ? ['FEW'] : [])];
  await writeEntries(dynamo, table, campaignId, 0, FANS, marketsOf);
  await writeScoringRows(db, campaignId, 'LA', 0, FANS, score);
  await writeScoringRows(db, campaignId, 'TM', 0, 300, () => undefined);
  await writeScoringRows(db, campaignId, 'FEW', 0, 100, score);
  // Three rows replication could not attach to a fan.
  await db.collection('scoring_rows').insertMany(
    [0, 1, 2].map((k) => ({
      _id: `${campaignId}:LA:broken-${k}`,
      campaignId,
      marketId: 'LA',
      locale: 'en-US',
      entryVersion: 1,
      score: 6,
    })) as never[],
  );
  await codes.importCodes(
    campaignId,
    'LA',
    Array.from({ length: WINNERS }, (_, i) => `LA${String(i).padStart(4, '0')}`),
  );
  await codes.importCodes(campaignId, 'TM', ['TMSHARED']);
  await codes.importCodes(campaignId, 'FEW', ['F1', 'F2', 'F3', 'F4', 'F5']);

  closedAt = new Date();
  await new MongoCampaignStore(db).create(
    closedCampaign(
      campaignId,
      [
        { id: 'LA', ticketer: 'OTHER' },
        { id: 'TM', ticketer: 'TM' },
        { id: 'FEW', ticketer: 'OTHER' },
      ],
      closedAt,
    ),
    [],
  );
}, 600_000);

afterAll(async () => {
  await Promise.all(Object.values(procs).map((p) => p.stop()));
  await connector?.stop();
  await producer?.disconnect();
  await admin.disconnect();
  await db.dropDatabase().catch(() => {});
  await mongo.close();
  await dynamo.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
  dynamo.destroy();
});

describe('selection (Scenario 1, scaled)', () => {
  it('refuses a draw before the connector has read past the close, and on an open campaign', async () => {
    const connectorId = connectorIdOf(base, table);
    const before = await connectorPastClose(kafka, admin, codec, topics.checkpoints, connectorId, closedAt);
    expect(before).toMatchObject({ ok: false });
    expect(before.detail).toMatch(/no checkpoint yet/);
    // Groups the topology does not know (this test runs no replication processors): the check
    // notes them and treats them as caught up; the connector is what is checked here.
    const absentGroups = [`${base}-filter`, `${base}-replicator`];
    const groups = await replicationLag(admin, topology, absentGroups);
    const campaign = await new MongoCampaignStore(db).get(campaignId);
    expect(() => checkPreconditions(campaignId, 'LA', 10, { campaign, connector: before, groups })).toThrow(
      /replication: not caught up: connector .* has no checkpoint yet/,
    );
    expect(() =>
      checkPreconditions(campaignId, 'LA', 10, {
        campaign: { ...campaign!, status: 'ACTIVE' },
        connector: { ok: true, detail: '' },
        groups,
      }),
    ).toThrow(/campaignId: campaign .* is ACTIVE: selection runs only on a CLOSED campaign/);

    connector = await runConnector({
      config: loadConfig({ ...process.env, REGFLOW_HTTP_PORT: '0', REGFLOW_LOG_LEVEL: 'warn' }),
      table,
      name: base,
      topics: { changes: topics.changes, checkpoints: topics.checkpoints },
      pollIntervalMs: 200,
      checkpointRefreshMs: 1_000,
      leaseTtlMs: 3_000,
    });
    let now = before;
    expect(
      await waitFor(
        async () => {
          now = await connectorPastClose(kafka, admin, codec, topics.checkpoints, connectorId, closedAt);
          return now.ok;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      ),
    ).toBe(true);
    expect(checkPreconditions(campaignId, 'LA', 10, { campaign, connector: now, groups })).toEqual([
      `replication groups not in the topology, treated as caught up: ${absentGroups.join(', ')}`,
    ]);
    // A consumer group with lag blocks the draw: a group of our own on the change topic, never committed.
    const lagging = await replicationLag(
      admin,
      {
        ...topology,
        processors: [{ ...topology.processors[0]!, name: `${base}-lagger`, inputs: [topics.changes] }],
      },
      [`${base}-lagger`],
    );
    expect(lagging[0]).toMatchObject({ state: 'lagging' });
  }, 300_000);

  it('draws exactly N winners with N distinct codes; losers false without a code; stats; codes assigned', async () => {
    // Long handler calls (the planner's two passes over the market, a saver batch of 2,000 verdict
    // writes) keep their group membership through ctx.heartbeat(), with the 6 s session of childEnv.
    await startProcs('planner', 'planner,reporter,marker');
    await startProcs('saver', 'saver');
    const run = await request('LA', WINNERS);
    const finished = await waitStats(run.runId, 'LA', '', (s) => s.status !== 'PROCESSING');
    expect(finished).toMatchObject({
      status: 'FINISHED',
      total: FANS + 3,
      processed: WINNERS,
      failed: 3,
      winnersRequested: WINNERS,
    });
    expect(finished.seedHash).toMatch(/^[0-9a-f]{64}$/);
    expect(finished.seed).toMatch(/^[0-9a-f]{64}$/);
    const verdicts = await waitStats(run.runId, 'LA', '|verdicts', (s) => s.status === 'FINISHED');
    expect(verdicts).toMatchObject({ winnerVerdicts: WINNERS, loserVerdicts: FANS - WINNERS });
    // The losers went out in pages of 700 rows, one transaction each, after the winners.
    const pages = await pageRecords(run.runId);
    expect(pages.map((p) => [p.request.page!.index, p.request.page!.pages])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [i, 5]),
    );

    const rows = await marketRows('LA');
    const winners = rows.filter((r) => r.verdict === true);
    expect(winners).toHaveLength(WINNERS);
    expect(new Set(winners.map((w) => w.code)).size).toBe(WINNERS);
    // Verdicts in DynamoDB: the winners true with their code, every other fan false without one.
    const verdictsLA = await dynamoVerdicts('LA');
    expect(verdictsLA.size).toBe(FANS);
    const losers = rows.filter((r) => r.globalUserId && r.verdict !== true);
    expect(losers).toHaveLength(FANS - WINNERS);
    for (const w of winners)
      expect(verdictsLA.get(w.globalUserId)).toMatchObject({ verdict: true, code: w.code, runId: run.runId });
    expect(
      losers.every(
        (l) =>
          verdictsLA.get(l.globalUserId)?.verdict === false &&
          verdictsLA.get(l.globalUserId)?.code === undefined,
      ),
    ).toBe(true);
    expect(losers.every((l) => l.code === undefined)).toBe(true);
    // The winners are the best scores (score 6 fans: 3000/7 ≈ 428 > 50, so all winners have score 6).
    expect(winners.every((w) => w.score === 6)).toBe(true);

    // What the fan reads with their entry (the registration API returns the DynamoDB item).
    const w = winners[0]!;
    expect((await entryItem(w.globalUserId))?.['selection#LA']).toMatchObject({
      verdict: true,
      code: w.code,
      runId: run.runId,
    });
    expect((await entryItem(losers[0]!.globalUserId))?.['selection#LA']).toMatchObject({
      verdict: false,
      runId: run.runId,
    });
    expect((await entryItem(losers[0]!.globalUserId))?.['selection#LA']).not.toHaveProperty('code');

    // code-marker: all codes assigned, each to its winner.
    expect(
      await waitFor(async () => (await codes.counts(campaignId, 'LA'))[0]?.assigned === WINNERS, {
        timeoutMs: 120_000,
        intervalMs: 1000,
      }),
    ).toBe(true);
    const assigned = await codes.codes.find({ campaignId, marketId: 'LA' }).toArray();
    const byFan = new Map(winners.map((x) => [x.globalUserId, x.code]));
    expect(assigned.every((c) => byFan.get(c.assignedTo!) === c.code)).toBe(true);

    const report = await audit('LA');
    expect(report).toMatchObject({ ok: true, mismatches: [] });
  }, 600_000);

  it('a redelivered request changes nothing', async () => {
    const [first] = await selection.listRuns(campaignId, 'LA');
    const before = await snapshot('LA');
    const countsBefore = await codes.counts(campaignId, 'LA');
    await request('LA', WINNERS, first!.runId);
    // The planner handled it again once its group has no lag.
    expect(
      await waitFor(
        async () => (await topicLag(admin, `${base}-planner`, [topics.requests])).every((p) => p.lag <= 1),
        { timeoutMs: 60_000, intervalMs: 500 },
      ),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await snapshot('LA')).toBe(before);
    expect(await codes.counts(campaignId, 'LA')).toEqual(countsBefore);
    // A page record delivered again (as written, out of its run's order): the same losers again.
    const [, page] = await pageRecords(first!.runId);
    const [sent] = await producer.send({
      topic: topics.requests,
      messages: [{ key: page!.key, value: page!.value }],
    });
    // Handled once the planner's committed offset is past it.
    expect(
      await waitFor(
        async () =>
          (await topicLag(admin, `${base}-planner`, [topics.requests])).some(
            (p) => p.partition === sent!.partition && p.committed > Number(sent!.baseOffset),
          ),
        { timeoutMs: 60_000, intervalMs: 500 },
      ),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await snapshot('LA')).toBe(before);
    expect(await codes.counts(campaignId, 'LA')).toEqual(countsBefore);
  }, 240_000);

  it('a TM market gives every winner the one shared code', async () => {
    const run = await request('TM', 30);
    await waitStats(run.runId, 'TM', '', (s) => s.status === 'FINISHED');
    await waitStats(run.runId, 'TM', '|verdicts', (s) => s.status === 'FINISHED');
    const rows = await marketRows('TM');
    const winners = rows.filter((r) => r.verdict === true);
    expect(winners).toHaveLength(30);
    expect(new Set(winners.map((x) => x.code))).toEqual(new Set(['TMSHARED']));
    expect(
      await waitFor(async () => (await codes.counts(campaignId, 'TM'))[0]?.assigned === 1, {
        timeoutMs: 60_000,
        intervalMs: 1000,
      }),
    ).toBe(true);
    expect((await audit('TM', true)).ok).toBe(true);
  }, 300_000);

  it('too few codes: FAILED, nothing assigned, reservations released', async () => {
    const run = await request('FEW', 10);
    const failed = await waitStats(run.runId, 'FEW', '', (s) => s.status !== 'PROCESSING');
    expect(failed.status).toBe('FAILED');
    expect(failed.reason).toMatch(/10 winners need 10 codes, the pool of FEW had 5/);
    expect(await codes.counts(campaignId, 'FEW')).toEqual([
      { campaignId, marketId: 'FEW', available: 5, reserved: 0, assigned: 0, total: 5 },
    ]);
    expect(
      await db
        .collection('scoring_rows')
        .countDocuments({ campaignId, marketId: 'FEW', selectedRunId: { $exists: true } }),
    ).toBe(0);
  }, 180_000);

  it('a second wave selects only fans not selected before', async () => {
    const firstWinners = new Set(
      (await marketRows('LA')).filter((r) => r.verdict === true).map((r) => r.globalUserId),
    );
    await codes.importCodes(
      campaignId,
      'LA',
      Array.from({ length: 20 }, (_, i) => `LB${String(i).padStart(4, '0')}`),
    );
    const run = await request('LA', 20);
    const finished = await waitStats(run.runId, 'LA', '', (s) => s.status !== 'PROCESSING');
    expect(finished).toMatchObject({ status: 'FINISHED', processed: 20 });
    await waitStats(run.runId, 'LA', '|verdicts', (s) => s.status === 'FINISHED');
    const rows = await marketRows('LA');
    const second = rows.filter((r) => r.selectedRunId === run.runId && r.verdict === true);
    expect(second).toHaveLength(20);
    expect(second.some((r) => firstWinners.has(r.globalUserId))).toBe(false);
    expect(rows.filter((r) => r.verdict === true)).toHaveLength(WINNERS + 20);
    expect(
      await waitFor(async () => (await codes.counts(campaignId, 'LA'))[0]?.assigned === WINNERS + 20, {
        timeoutMs: 120_000,
        intervalMs: 1000,
      }),
    ).toBe(true);
    expect((await audit('LA')).ok).toBe(true);
  }, 300_000);

  it('replaying the results from earliest with the saver killed mid-run ends in the same state', async () => {
    const before = await snapshot('LA');
    const codesBefore = await codes.counts(campaignId, 'LA');
    await procs.saver!.stop();
    // Back to the first retained offset of each partition (as `regflow replay --to-earliest` does).
    const bounds = await admin.fetchTopicOffsets(topics.results);
    await admin.setOffsets({
      groupId: `${base}-saver`,
      topic: topics.results,
      partitions: bounds.map((p) => ({ partition: p.partition, offset: p.low })),
    });
    const crashing = await startProcs('crashing', 'saver', {
      FIXTURE_FAULT: 'kill-before-commit:2',
      REGFLOW_BATCH_MAX_RECORDS: '2',
    });
    const exit = await crashing.exited;
    expect(exit.signal).toBe('SIGKILL');
    await startProcs('saver', 'saver');
    expect(
      await waitFor(
        // Every result of the file's runs again (~12,000 conditional verdict writes on moto, ~70/s
        // under load; the runs' pages and one page sent again add some).
        async () => (await topicLag(admin, `${base}-saver`, [topics.results])).every((p) => p.lag <= 1),
        { timeoutMs: 360_000, intervalMs: 1000 },
      ),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await snapshot('LA')).toBe(before);
    expect(await codes.counts(campaignId, 'LA')).toEqual(codesBefore);
    // The fans' DynamoDB items agree with the entry store.
    const sample = (await marketRows('LA')).filter((_, i) => i % 97 === 0);
    for (const r of sample) {
      const v = (await entryItem(r.globalUserId!))?.['selection#LA'] as Record<string, unknown> | undefined;
      // Losers have no verdict on their scoring row (only winners are written there).
      expect(v?.verdict, r.globalUserId).toBe(r.verdict === true);
      expect(v?.code).toBe(r.code);
    }
  }, 720_000);

  it('the audit confirms the runs and detects a tampered verdict', async () => {
    expect((await audit('LA')).ok).toBe(true);
    const loser = await db
      .collection('scoring_rows')
      .findOne({ campaignId, marketId: 'LA', globalUserId: { $exists: true }, verdict: { $ne: true } });
    await db
      .collection('scoring_rows')
      .updateOne({ _id: loser!._id }, { $set: { verdict: true, code: 'FORGED' } });
    const report = await audit('LA');
    expect(report.ok).toBe(false);
    expect(report.mismatches.join('\n')).toContain(`${loser!.globalUserId}: verdict true`);
    expect(fanId(0)).toBe('fan-0000000');
  }, 120_000);
});
