import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Admin } from 'kafkajs';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { type RunningConnector, runConnector } from '../../connectors/dynamodb-streams/connector.ts';
import { createDynamoDb, createMongo } from '../../lib/clients.ts';
import { createLogger } from '../../lib/logger.ts';
import { waitFor } from '../../lib/retry.ts';
import { toEntryChange } from '../../processors/entry-filter/handler.ts';
import type { NormalizedEntry } from '../../registration/eligibility.ts';
import { type RunningProcessor, runProcessors } from '../../runtime/run-processor.ts';
import type { DataRecord, DemandChange, EntryChange, EntryRejection } from '../../schemas/types.generated.ts';
import { DemandTable, type StoredEntry } from '../../stores/demand-table.ts';
import { MongoEntryStore } from '../../stores/entries.ts';
import { MongoScoringStore } from '../../stores/scoring.ts';
import { MongoUserStore } from '../../stores/users.ts';
import { spawnConnector } from '../connector-harness.ts';
import {
  createReplicationSetup,
  deadLetters,
  produceEntryChanges,
  type ReplicationSetup,
  replicationDefinitions,
} from '../replication-harness.ts';
import { type EchoProcess, kafka, readTopic, spawnFixture } from '../runtime-harness.ts';
import { config } from '../support.ts';

// Replication (Use Case 3, Workflow 1, Scenario 3) against the real services: moto DynamoDB +
// Streams, the connector, Kafka + registry, FerretDB. Each test has its own table, topics, groups,
// connector name and MongoDB database.

const dynamo: DynamoDBClient = createDynamoDb(config.dynamodb);
const mongo: MongoClient = createMongo(config.mongodb);
let admin: Admin;
const databases: string[] = [];
const inProcess: { stop(): Promise<void> }[] = [];
const children: EchoProcess[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await Promise.all([admin.connect(), mongo.connect()]);
});
afterEach(async () => {
  await Promise.all([
    ...inProcess.splice(0).map((c) => c.stop()),
    ...children.splice(0).map((c) => c.stop()),
  ]);
});
afterAll(async () => {
  for (const db of databases)
    await mongo
      .db(db)
      .dropDatabase()
      .catch(() => {});
  await Promise.all([admin.disconnect(), mongo.close()]);
  dynamo.destroy();
});

async function setup(opts: { partitions?: number } = {}): Promise<ReplicationSetup & { stores: Stores }> {
  const s = await createReplicationSetup(admin, dynamo, config.mongodb.url, opts);
  databases.push(s.db.name);
  return { ...s, stores: stores(mongo.db(s.db.name)) };
}

interface Stores {
  db: Db;
  entries: MongoEntryStore;
  users: MongoUserStore;
  scoring: MongoScoringStore;
}
const stores = (db: Db): Stores => ({
  db,
  entries: new MongoEntryStore(db),
  users: new MongoUserStore(db),
  scoring: new MongoScoringStore(db),
});

const configFor = (s: ReplicationSetup) =>
  loadConfig({
    ...process.env,
    REGFLOW_MONGODB_URL: s.db.url,
    REGFLOW_HTTP_PORT: '0',
    REGFLOW_LOG_LEVEL: 'warn',
  });

async function startProcessors(s: ReplicationSetup, names?: Parameters<typeof replicationDefinitions>[2]) {
  const running: RunningProcessor = await runProcessors({
    config: configFor(s),
    definitions: replicationDefinitions(s.prefix, s.tiers, names),
    logger: createLogger('warn'),
  });
  inProcess.push(running);
  await waitFor(async () => running.ready(), { timeoutMs: 60_000, intervalMs: 100 });
  return running;
}

async function startConnector(s: ReplicationSetup): Promise<RunningConnector> {
  const c = await runConnector({
    config: configFor(s),
    table: s.table,
    name: s.connector.name,
    topics: { changes: s.topics.changes, checkpoints: s.topics.checkpoints },
    leaseTtlMs: 3_000,
    pollIntervalMs: 100,
    logger: createLogger('warn'),
  });
  inProcess.push(c);
  return c;
}

const entry = (gid: string, markets: string[], extra: Partial<NormalizedEntry> = {}): NormalizedEntry =>
  ({
    email: `${gid}@example.test`,
    firstName: 'Ada',
    lastName: 'Lovelace',
    phone: '+12025550123',
    postalCode: '10001',
    locale: 'en-US',
    markets,
    marketing: { emailOptIn: true, smsOptIn: false },
    ...extra,
  }) as NormalizedEntry;

/** The entry change entry-filter makes of a stored item (for producing changes directly). */
function changeOf(table: string, stored: StoredEntry, sequenceNumber: string): EntryChange {
  const image = { ...stored, PK: `fan:${stored.globalUserId}`, SK: `entry#${stored.campaignId}` };
  const demand: DemandChange = {
    eventId: `ev-${sequenceNumber}`,
    op: 'MODIFY',
    table,
    keys: { PK: JSON.stringify(image.PK), SK: JSON.stringify(image.SK) },
    oldImage: null,
    newImage: JSON.stringify(image),
    sequenceNumber,
    shardId: 'shard-test',
    approximateCreationTime: Date.now(),
    source: 'STREAM',
  };
  return toEntryChange(demand, undefined, image);
}

const metric = async (port: number, name: string, topic: string) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`${name}\\{topic="${topic.replace(/\./g, '\\.')}"[^}]*\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
};

/** regflow_handler_outcomes_total of one processor and outcome (0 when not counted yet). */
const handlerOutcome = async (port: number, processor: string, outcome: string) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('regflow_handler_outcomes_total{') &&
        l.includes(`outcome="${outcome}"`) &&
        l.includes(`processor="${processor}"`),
    );
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
};

const rowsOf = async (st: Stores, campaignId: string, globalUserId: string) =>
  (await st.db.collection('scoring_rows').find({ campaignId, globalUserId }).toArray())
    .map((r) => r.marketId as string)
    .sort();

describe('replication', () => {
  it('Scenario 3: two quick updates processed out of order end with [A, C]; the stale one is rejected and counted', async () => {
    const s = await setup({ partitions: 1 });
    const table = new DemandTable(dynamo, s.table);
    const first = await table.putEntry('fan-a', 'camp-1', entry('fan-a', ['A', 'B']));
    const second = await table.putEntry('fan-a', 'camp-1', entry('fan-a', ['A', 'C']));
    expect(second.version).toBeGreaterThan(first.version);
    const event1 = changeOf(s.table, first, '1001');
    const event2 = changeOf(s.table, second, '1002');
    // The queue does not keep order: event2 arrives first.
    await produceEntryChanges(s.topics.replicate, [event2, event1]);

    const running = await startProcessors(s, ['entry-replicator', 'user-upserter']);
    const rejected = await readTopic(s.topics.rejected, { atLeast: 1, settleMs: 1_000 });
    expect(rejected.map((r) => r.value as unknown as EntryRejection)).toMatchObject([
      {
        recordId: '1001',
        reason: 'STALE',
        changeVersion: first.version,
        currentVersion: second.version,
        changeUpdated: first.date.updated,
        currentUpdated: second.date.updated,
      },
    ]);
    expect(await metric(running.httpPort, 'regflow_records_out_total', s.topics.rejected)).toBe(1);
    // The replicator's own count of what it did (counted as its transaction commits).
    const outcome = (name: string) => handlerOutcome(running.httpPort, `${s.prefix}-entry-replicator`, name);
    expect(
      await waitFor(async () => (await outcome('applied')) === 1, { timeoutMs: 10_000, intervalMs: 100 }),
    ).toBe(true);
    expect(await outcome('stale-rejected')).toBe(1);

    const stored = await s.stores.entries.getEntry('camp-1', 'fan-a');
    expect(stored).toMatchObject({ markets: ['A', 'C'], version: second.version });
    expect(await rowsOf(s.stores, 'camp-1', 'fan-a')).toEqual(['A', 'C']);
    expect((await table.getEntry('fan-a', 'camp-1'))?.needsReplication).toBe(false);
    const registrations = (await readTopic(s.topics.dataRecords, { atLeast: 1, settleMs: 500 }))
      .map((r) => r.value as unknown as DataRecord)
      .filter((r) => r.type === 'REGISTRATION');
    expect(registrations.map((r) => r.sourceRecordId)).toEqual(['1002']);
    await waitFor(async () => (await s.stores.users.getUser('fan-a'))?.version === second.version, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  }, 120_000);

  it('insert → update → withdraw flow from DynamoDB through connector, filter, replicator and user-upserter', async () => {
    const s = await setup();
    const table = new DemandTable(dynamo, s.table);
    await startConnector(s);
    const running = await startProcessors(s);
    const st = s.stores;

    const a1 = await table.putEntry('fan-a', 'camp-1', entry('fan-a', ['NYC', 'LA']));
    const b1 = await table.putEntry('fan-b', 'camp-1', entry('fan-b', ['LA'], { phone: undefined }));
    const converged = (gid: string, version: number) =>
      waitFor(
        async () =>
          (await st.entries.getEntry('camp-1', gid))?.version === version &&
          (await st.users.getUser(gid))?.version === version &&
          (await table.getEntry(gid, 'camp-1'))?.needsReplication === false,
        { timeoutMs: 45_000, intervalMs: 100 },
      );
    expect(await converged('fan-a', a1.version)).toBe(true);
    expect(await converged('fan-b', b1.version)).toBe(true);
    expect(await st.entries.getEntry('camp-1', 'fan-a')).toMatchObject({
      markets: ['NYC', 'LA'],
      email: 'fan-a@example.test',
      phone: '+12025550123',
    });
    expect(await rowsOf(st, 'camp-1', 'fan-a')).toEqual(['LA', 'NYC']);
    expect(
      (await st.scoring.listRows('camp-1', 'LA')).find((r) => r.globalUserId === 'fan-b')?.phone,
    ).toBeUndefined();

    // The fan changes markets and email: the dropped market's row goes, the profile follows.
    const a2 = await table.putEntry(
      'fan-a',
      'camp-1',
      entry('fan-a', ['LA', 'SF'], { email: 'new@example.test' }),
    );
    expect(await converged('fan-a', a2.version)).toBe(true);
    expect((await st.entries.getEntry('camp-1', 'fan-a'))?.markets).toEqual(['LA', 'SF']);
    expect(await rowsOf(st, 'camp-1', 'fan-a')).toEqual(['LA', 'SF']);
    expect((await st.users.getUser('fan-a'))?.email).toBe('new@example.test');

    // Withdrawal: the entry and its rows go; the other fan is untouched.
    await table.deleteEntry('fan-a', 'camp-1');
    expect(
      await waitFor(async () => (await st.entries.getEntry('camp-1', 'fan-a')) === undefined, {
        timeoutMs: 45_000,
        intervalMs: 100,
      }),
    ).toBe(true);
    expect(
      await waitFor(async () => (await rowsOf(st, 'camp-1', 'fan-a')).length === 0, {
        timeoutMs: 10_000,
        intervalMs: 100,
      }),
    ).toBe(true);
    expect(await st.entries.countEntries('camp-1')).toBe(1);
    expect(await rowsOf(st, 'camp-1', 'fan-b')).toEqual(['LA']);

    // data.records: one REGISTRATION per change (3 + 1), the withdrawal marked deleted; nothing rejected,
    // and the unflag writes were skipped by the filter (4 entry changes replicated, not 7).
    const data = await readTopic(s.topics.dataRecords, { atLeast: 9, settleMs: 1_500 });
    const regs = data.map((r) => r.value as unknown as DataRecord).filter((r) => r.type === 'REGISTRATION');
    expect(regs).toHaveLength(4);
    expect(
      regs.filter((r) => JSON.parse(r.data).deleted === true).map((r) => JSON.parse(r.data).globalUserId),
    ).toEqual(['fan-a']);
    const replicated = await readTopic(s.topics.replicate, { atLeast: 4, settleMs: 500 });
    expect(replicated).toHaveLength(4);
    expect((await readTopic(s.topics.rejected, { atLeast: 0, settleMs: 300 })).length).toBe(0);
    expect(await deadLetters(admin, s)).toBe(0);

    // What each processor counted: the filter kept the 4 fan changes and skipped the 3 unflag
    // writes; the replicator applied 4 (3 upserts, 1 deletion); the user store took 3 profiles.
    const counted = async () =>
      Object.fromEntries(
        await Promise.all(
          (
            [
              ['entry-filter', 'kept'],
              ['entry-filter', 'skipped'],
              ['entry-replicator', 'applied'],
              ['entry-replicator', 'stale-rejected'],
              ['user-upserter', 'applied'],
            ] as const
          ).map(
            async ([p, o]) =>
              [`${p}:${o}`, await handlerOutcome(running.httpPort, `${s.prefix}-${p}`, o)] as const,
          ),
        ),
      );
    const expected = {
      'entry-filter:kept': 4,
      'entry-filter:skipped': 3,
      'entry-replicator:applied': 4,
      'entry-replicator:stale-rejected': 0,
      'user-upserter:applied': 3,
    };
    await waitFor(async () => JSON.stringify(await counted()) === JSON.stringify(expected), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(await counted()).toEqual(expected);
  }, 120_000);

  it('exactly once in effect, in order, across repeated kill -9 of the connector and the replicator', async () => {
    const s = await setup();
    const table = new DemandTable(dynamo, s.table);
    const fans = Array.from({ length: 12 }, (_, i) => `fan-${i}`);
    const markets = ['A', 'B', 'C', 'D'];
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; writing || i < 150; i++) {
        const gid = fans[i % fans.length]!;
        if (i % 9 === 8) await table.deleteEntry(gid, 'camp-1');
        else await table.putEntry(gid, 'camp-1', entry(gid, [markets[i % 4]!, markets[(i + 1) % 4]!]));
        writes++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const spawn = (script: 'connector' | 'processors', env: Record<string, string> = {}) => {
      const p =
        script === 'connector'
          ? spawnConnector(s.connector, env)
          : spawnFixture('test/fixtures/replication-process.ts', {
              FIXTURE_PREFIX: s.prefix,
              FIXTURE_TIERS: s.tiers.join(','),
              REGFLOW_MONGODB_URL: s.db.url,
              REGFLOW_KAFKA_SESSION_TIMEOUT_MS: '6000',
              REGFLOW_BATCH_MAX_RECORDS: '50',
              ...env,
            });
      children.push(p);
      return p;
    };

    // The replicator dies between its effects and its commit, then both die at arbitrary moments.
    const connector = spawn('connector');
    await connector.waitForEvent('leading');
    const crash = spawn('processors', { FIXTURE_FAULT: 'kill-before-commit:2' });
    await crash.waitForEvent('kill-before-commit', 90_000);
    expect((await crash.exited).signal).toBe('SIGKILL');
    connector.child.kill('SIGKILL');
    await connector.exited;
    for (let round = 0; round < 3; round++) {
      const c = spawn('connector');
      const p = spawn('processors');
      await Promise.all([c.waitForEvent('leading'), p.waitForEvent('started')]);
      await new Promise((r) => setTimeout(r, 1_500 + 700 * round));
      (round % 2 === 0 ? [p, c] : [c, p]).forEach((x) => {
        x.child.kill('SIGKILL');
      });
      await Promise.all([c.exited, p.exited]);
    }
    writing = false;
    await writer;
    expect(writes).toBeGreaterThan(100);
    spawn('connector');
    await spawn('processors').waitForEvent('started');

    // Converged: the entry store, scoring rows and user store hold each fan's current item.
    const matches = async () => {
      for (const gid of fans) {
        const item = await table.getEntry(gid, 'camp-1');
        const stored = await s.stores.entries.getEntry('camp-1', gid);
        if (item === undefined) {
          if (stored !== undefined || (await rowsOf(s.stores, 'camp-1', gid)).length > 0) return false;
          continue;
        }
        if (item.needsReplication || stored?.version !== item.version) return false;
        if (JSON.stringify(stored.markets) !== JSON.stringify(item.markets)) return false;
        if (
          JSON.stringify(await rowsOf(s.stores, 'camp-1', gid)) !== JSON.stringify([...item.markets].sort())
        )
          return false;
        if (((await s.stores.users.getUser(gid))?.version ?? 0) < item.version) return false;
      }
      return true;
    };
    expect(await waitFor(matches, { timeoutMs: 120_000, intervalMs: 500 })).toBe(true);

    // Exactly once: every kept change has exactly one outcome (a REGISTRATION or a rejection), none twice,
    // and the REGISTRATIONs of each fan were published in the order of their changes.
    const kept = await readTopic(s.topics.replicate, { atLeast: 1, settleMs: 1_500 });
    const keptIds = kept.map((r) => (r.value as unknown as EntryChange).recordId);
    expect(new Set(keptIds).size).toBe(keptIds.length);
    const data = (await readTopic(s.topics.dataRecords, { atLeast: 1, settleMs: 1_500 })).map((r) => ({
      partition: r.partition,
      offset: Number(r.offset),
      value: r.value as unknown as DataRecord,
    }));
    const regs = data.filter((d) => d.value.type === 'REGISTRATION');
    const rejectedIds = (await readTopic(s.topics.rejected, { atLeast: 0, settleMs: 1_000 })).map(
      (r) => (r.value as unknown as EntryRejection).recordId,
    );
    const outcomes = [...regs.map((r) => r.value.sourceRecordId), ...rejectedIds].sort();
    expect(outcomes).toEqual([...keptIds].sort());
    const byFan = new Map<string, number[]>();
    for (const r of regs.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      const d = JSON.parse(r.value.data) as { globalUserId: string; updatedAt: string };
      byFan.set(d.globalUserId, [...(byFan.get(d.globalUserId) ?? []), Date.parse(d.updatedAt)]);
    }
    for (const [gid, times] of byFan)
      expect({ gid, times }).toEqual({ gid, times: [...times].sort((a, b) => a - b) });
    expect(await deadLetters(admin, s)).toBe(0);
  }, 300_000);
});
