import type { Admin, Consumer, Producer } from 'kafkajs';
import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../../campaigns/outbox-relay.ts';
import { CampaignService } from '../../campaigns/service.ts';
import { createKafka, createSchemaRegistry } from '../../lib/clients.ts';
import {
  type DataRecord,
  type DataRecordsPublisher,
  ProducerDataRecordsPublisher,
} from '../../lib/data-records.ts';
import { Codec } from '../../runtime/codec.ts';
import { loadSchema } from '../../schemas/index.ts';
import { seedHashOf } from '../../selection/draw.ts';
import { SelectionStore } from '../../selection/store.ts';
import { MongoCampaignStore } from '../../stores/campaigns.ts';
import { createTopic } from '../../topology/admin.ts';
import { validDefinition } from '../fixtures/campaigns.ts';
import { config, uniqueName } from '../support.ts';

// The campaign outbox on FerretDB relayed to a real Kafka topic: every change arrives, none twice
// in effect (duplicates after a crash carry the same sourceRecordId and the same content).

const kafka = createKafka(config.kafka);
const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
const mongo = new MongoClient(config.mongodb.url);
let db: Db;
let admin: Admin;
let producer: Producer;
const consumers: Consumer[] = [];

beforeAll(async () => {
  await mongo.connect();
  db = mongo.db(uniqueName('outbox').replace(/-/g, '_'));
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
});

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.disconnect()));
  await producer?.disconnect();
  await admin?.disconnect();
  await db?.dropDatabase().catch(() => {});
  await mongo.close();
});

async function readAll(topic: string, atLeast: number): Promise<DataRecord[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('outbox-reader') });
  consumers.push(consumer);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const records: DataRecord[] = [];
  await new Promise<void>((resolve) => {
    // read until `atLeast` arrived, then 1.5 s more to catch anything extra
    let quiet: NodeJS.Timeout | undefined;
    const deadline = setTimeout(resolve, 15_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        // The Avro envelope (data as JSON text), decoded through the registry.
        const envelope = (await codec.decode(message.value)) as { data: string } & Omit<DataRecord, 'data'>;
        records.push({ ...envelope, data: JSON.parse(envelope.data) } as DataRecord);
        if (records.length >= atLeast) {
          clearTimeout(quiet);
          quiet = setTimeout(() => {
            clearTimeout(deadline);
            resolve();
          }, 1_500);
        }
      },
    });
  });
  await consumer.stop();
  return records;
}

describe('campaign outbox relay', () => {
  it('delivers every campaign change to Kafka exactly once in effect, across a crash after publishing', async () => {
    const topic = uniqueName('data.records');
    await createTopic(admin, { topic, numPartitions: 3 });
    await codec.register(topic, loadSchema('data-record'));
    const toKafka = new ProducerDataRecordsPublisher(
      async (messages) => {
        await producer.send({ topic, messages, acks: -1 });
      },
      (envelope) => codec.encode(topic, envelope),
    );
    const store = new MongoCampaignStore(db);
    await store.init();
    // Closing fixes the selection seed first (selection's store) and publishes its hash with the close.
    const seeds = new SelectionStore(db);
    const service = new CampaignService({
      store,
      seedHashAtClose: async (id) => (await seeds.ensureSeed(id)).seedHash,
    });

    // Changes written while no relay runs (the process "died" before publishing): nothing is lost.
    await service.apply({ ...validDefinition(), id: 'c-1' });
    await service.apply({ ...validDefinition(), id: 'c-2' });
    const def = validDefinition();
    await service.apply({ ...def, id: 'c-1', markets: [{ ...def.markets[0], name: 'Renamed' }] });
    await service.importInvites('c-1', ['a@example.com']);
    await service.setStatus('c-2', 'CLOSED');
    const expected = (await store.pendingOutbox(100)).flatMap((b) => b.records);
    expect(expected.map((r) => r.type).sort()).toEqual(
      [
        'CAMPAIGN',
        'CAMPAIGN',
        'CAMPAIGN',
        'CAMPAIGN',
        'CAMPAIGN',
        'MARKET',
        'MARKET',
        'MARKET',
        'EVENT_MAPPING',
        'EVENT_MAPPING',
      ].sort(),
    );

    // First relay: publishes, then "crashes" before removing the records from the outbox.
    const crashing: DataRecordsPublisher = {
      publish: async (records) => {
        await toKafka.publish(records);
        throw new Error('process killed after publishing');
      },
    };
    const first = new OutboxRelay({ store, publisher: crashing, owner: 'replica-1', leaseMs: 60_000 });
    await first.runOnce();
    expect((await store.pendingOutbox(100)).flatMap((b) => b.records)).toHaveLength(expected.length);

    // Another replica's relay waits while the lease is held, then takes over: it publishes again
    // and clears the outbox; a later change is published once.
    expect(await new OutboxRelay({ store, publisher: toKafka, owner: 'replica-2' }).runOnce()).toBe(0);
    const later = () => new Date(Date.now() + 61_000);
    const second = new OutboxRelay({ store, publisher: toKafka, owner: 'replica-2', clock: later });
    expect(await second.runOnce()).toBe(expected.length);
    await service.setStatus('c-1', 'TRANSFERRING');
    expect(await second.runOnce()).toBe(1);
    expect(await second.runOnce()).toBe(0);
    expect(await store.pendingOutbox(100)).toEqual([]);

    const received = await readAll(topic, expected.length * 2 + 1);
    const byId = new Map<string, DataRecord[]>();
    for (const r of received) byId.set(r.sourceRecordId, [...(byId.get(r.sourceRecordId) ?? []), r]);
    // every change arrived; duplicates (from the crash) are the same record
    expect([...byId.keys()].sort()).toEqual(
      [...expected.map((r) => r.sourceRecordId), 'campaign:c-1:v4:CAMPAIGN'].sort(),
    );
    for (const copies of byId.values()) for (const c of copies) expect(c).toEqual(copies[0]);
    expect(byId.get('campaign:c-1:v4:CAMPAIGN')).toHaveLength(1);
    expect(byId.get('campaign:c-1:v4:CAMPAIGN')?.[0]?.data).toMatchObject({ status: 'TRANSFERRING' });
    // nothing else arrived: each change twice at most (the crash), the later one once
    expect(received.length).toBe(expected.length * 2 + 1);
    // c-2's close carries SHA-256 of the seed its draw will use (revealed only with the results).
    const seed = await seeds.getSeed('c-2');
    expect(seed?.revealedAt).toBeUndefined();
    expect(seedHashOf(seed!.seed)).toBe(seed!.seedHash);
    const close = received.find((r) => (r.data as { status?: string }).status === 'CLOSED');
    expect(close?.data).toMatchObject({ campaignId: 'c-2', status: 'CLOSED', seedHash: seed!.seedHash });
    expect(received.find((r) => r.sourceRecordId === 'campaign:c-1:v1:CAMPAIGN')?.data).toMatchObject({
      seedHash: null,
    });
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  }, 90_000);
});
