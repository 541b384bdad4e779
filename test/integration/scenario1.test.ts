import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import type { Producer } from 'kafkajs';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { connectorIdOf } from '../../connectors/dynamodb-streams/checkpoints.ts';
import { type RunningConnector, runConnector } from '../../connectors/dynamodb-streams/connector.ts';
import { createDynamoDb, createMongo } from '../../lib/clients.ts';
import { systemClock } from '../../lib/clock.ts';
import { waitFor } from '../../lib/retry.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SelectionStats } from '../../schemas/types.generated.ts';
import { connectorPastClose, sendSelectionRequest } from '../../selection/trigger.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { MongoCodeStore } from '../../stores/codes.ts';
import { createDemandTable } from '../connector-harness.ts';
import { codec, type EchoProcess, kafka, spawnFixture } from '../runtime-harness.ts';
import {
  closedCampaign,
  createSelectionTopics,
  dynamoVerdicts,
  readStats,
  selectionRun,
  writeEntries,
  writeScoringRows,
} from '../selection-harness.ts';
import { config, dropDatabaseWhenQuiet, uniqueName } from '../support.ts';

// Scenario 1 of the spec at its full size, on the real services: 50,000 eligible registrations in
// one market and 500 codes give exactly 500 winners with 500 distinct codes, 49,500 losers with
// `verdict: false` and no code, stats TOTAL 50,000 / PROCESSED 500 / FINISHED, and all 500 codes
// marked assigned. The registrations are seeded as replication leaves them (entry items in
// DynamoDB, scoring rows in MongoDB); test/integration/selection.test.ts covers the other rules
// of the draw at 3,000 fans, and `npm run demo` plays this scenario through the HTTP API.
// Most of its time is moto absorbing the 50,000 conditional verdict writes.

const FANS = 50_000;
const WINNERS = 500;
const MARKET = 'NYC';
const run = selectionRun(uniqueName('scn1'), config.mongodb.url);
const { base, dbName, table, campaignId, topics } = run;
// A store call that times out while the machine is loaded is retried in place for about a minute
// (no retry tiers in the fixture) before its batch would be dead-lettered.
// The production session timeout (the harness's default is 6 s): the test's stores are slow under
// CI load, and a member evicted before its commit starts its batch over.
const childEnv = { ...run.childEnv, FIXTURE_ATTEMPTS: '12', REGFLOW_KAFKA_SESSION_TIMEOUT_MS: '30000' };

const mongo = createMongo(config.mongodb);
const dynamo = createDynamoDb(config.dynamodb);
const admin = kafka.admin();
let db: Db;
let codes: MongoCodeStore;
let producer: Producer;
let connector: RunningConnector | undefined;
const procs: EchoProcess[] = [];
let closedAt: Date;

async function waitStats(key: string, until: (s: SelectionStats) => boolean, timeoutMs: number) {
  let last: SelectionStats | undefined;
  const ok = await waitFor(
    async () => {
      last = (await readStats(kafka, admin, codec, topics.stats)).get(key);
      return last !== undefined && until(last);
    },
    { timeoutMs, intervalMs: 2_000 },
  );
  if (!ok) throw new Error(`stats ${key} never matched; last: ${JSON.stringify(last)}`);
  return last!;
}

beforeAll(async () => {
  await mongo.connect();
  db = mongo.db(dbName);
  codes = new MongoCodeStore(db);
  await codes.init();
  await admin.connect();
  await createSelectionTopics(admin, run);
  await codec.register(topics.requests, loadSchema('selection-request'));
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  await createDemandTable(dynamo, table);
  await writeEntries(dynamo, table, campaignId, 0, FANS, () => [MARKET]);
  await writeScoringRows(db, campaignId, MARKET, 0, FANS, (i) => i % 10);
  await codes.importCodes(
    campaignId,
    MARKET,
    Array.from({ length: WINNERS }, (_, i) => `NYC-${String(i).padStart(4, '0')}`),
  );
  closedAt = new Date();
  await new MongoCampaignStore(db).create(
    closedCampaign(campaignId, [{ id: MARKET, ticketer: 'OTHER' }], closedAt),
    [],
  );
}, 900_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await connector?.stop();
  await producer?.disconnect();
  await admin.disconnect();
  await dropDatabaseWhenQuiet(db);
  await mongo.close();
  await dynamo.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
  dynamo.destroy();
});

describe('Scenario 1 at full size (50,000 registrations, 500 codes)', () => {
  it('draws exactly 500 winners with 500 distinct codes; 49,500 losers false without a code; stats; codes assigned', async () => {
    connector = await runConnector({
      config: loadConfig({ ...process.env, REGFLOW_HTTP_PORT: '0', REGFLOW_LOG_LEVEL: 'warn' }),
      table,
      name: base,
      topics: { changes: topics.changes, checkpoints: topics.checkpoints },
      pollIntervalMs: 200,
      checkpointRefreshMs: 1_000,
      leaseTtlMs: 3_000,
    });
    // The draw waits for the data: the connector has read past the close.
    const connectorId = connectorIdOf(base, table);
    expect(
      await waitFor(
        async () =>
          (await connectorPastClose(kafka, admin, codec, topics.checkpoints, connectorId, closedAt)).ok,
        { timeoutMs: 600_000, intervalMs: 2_000 },
      ),
    ).toBe(true);

    for (const run of ['planner,reporter,marker', 'saver']) {
      const p = spawnFixture('test/fixtures/selection-process.ts', { ...childEnv, FIXTURE_RUN: run });
      procs.push(p);
      await p.waitForEvent('started', 120_000);
    }
    const { runId } = await sendSelectionRequest(
      producer,
      codec,
      topics.requests,
      { campaignId, marketId: MARKET, winners: WINNERS, requestedBy: 'scenario-1' },
      systemClock,
    );
    const key = `${campaignId}|${MARKET}|${runId}`;
    const finished = await waitStats(key, (s) => s.status !== 'PROCESSING', 600_000);
    expect(finished).toMatchObject({ status: 'FINISHED', total: FANS, processed: WINNERS, failed: 0 });
    const verdictStats = await waitStats(`${key}|verdicts`, (s) => s.status === 'FINISHED', 1_800_000);
    expect(verdictStats).toMatchObject({ winnerVerdicts: WINNERS, loserVerdicts: FANS - WINNERS });

    // DynamoDB, where each fan reads their verdict: 500 winners with distinct codes, the rest false.
    const verdicts = await dynamoVerdicts(dynamo, table, MARKET);
    expect(verdicts.size).toBe(FANS);
    const won = [...verdicts].filter(([, v]) => v.verdict === true);
    const lost = [...verdicts].filter(([, v]) => v.verdict === false);
    expect(won).toHaveLength(WINNERS);
    expect(new Set(won.map(([, v]) => v.code)).size).toBe(WINNERS);
    expect(won.every(([, v]) => typeof v.code === 'string' && v.runId === runId)).toBe(true);
    expect(lost).toHaveLength(FANS - WINNERS);
    expect(lost.every(([, v]) => v.code === undefined && v.runId === runId)).toBe(true);

    // The code store: all 500 codes marked assigned (code-marker, from the verdicts' changes), each to its winner.
    expect(
      await waitFor(async () => (await codes.counts(campaignId, MARKET))[0]?.assigned === WINNERS, {
        timeoutMs: 600_000,
        intervalMs: 2_000,
      }),
    ).toBe(true);
    const byFan = new Map(won.map(([fan, v]) => [fan, v.code]));
    const assigned = await codes.codes.find({ campaignId, marketId: MARKET }).toArray();
    expect(assigned).toHaveLength(WINNERS);
    expect(assigned.every((c) => c.status === 'assigned' && byFan.get(c.assignedTo!) === c.code)).toBe(true);
  }, 3_000_000);
});
