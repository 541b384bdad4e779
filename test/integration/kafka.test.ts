import type { Admin, Consumer, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../lib/clients.ts';
import { createTopic as createTopicOnBroker } from '../../topology/admin.ts';
import { config, uniqueName } from '../support.ts';

const kafka = createKafka(config.kafka);
let admin: Admin;
const producers: Producer[] = [];
const consumers: Consumer[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await Promise.all([...producers, ...consumers].map((c) => c.disconnect()));
  await admin.disconnect();
});

async function createTopic(partitions = 1): Promise<string> {
  const topic = uniqueName('smoke.kafka');
  expect(await createTopicOnBroker(admin, { topic, numPartitions: partitions })).toBe(true);
  return topic;
}

/** Reads `topic` from the beginning until `count` values arrived (or the deadline passed). */
async function readValues(
  topic: string,
  count: number,
  isolation: 'committed' | 'uncommitted',
): Promise<string[]> {
  const consumer = kafka.consumer({
    groupId: uniqueName('smoke-reader'),
    readUncommitted: isolation === 'uncommitted',
  });
  consumers.push(consumer);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values: string[] = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 8_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value?.toString() ?? '');
        if (values.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.stop();
  return values;
}

describe('Kafka (KRaft broker via kafkajs)', () => {
  it('creates a topic, produces and consumes keyed records', async () => {
    const topic = await createTopic(3);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions).toHaveLength(3);

    const producer = kafka.producer({ idempotent: true });
    producers.push(producer);
    await producer.connect();
    await producer.send({
      topic,
      messages: ['a', 'b', 'c', 'd'].map((v) => ({ key: `k-${v}`, value: `value-${v}` })),
    });
    expect((await readValues(topic, 4, 'committed')).sort()).toEqual([
      'value-a',
      'value-b',
      'value-c',
      'value-d',
    ]);
  });

  it('shows a read-committed consumer only the committed transaction', async () => {
    const topic = await createTopic();
    const producer = kafka.producer({
      transactionalId: uniqueName('smoke-tx'),
      maxInFlightRequests: 1,
      idempotent: true,
    });
    producers.push(producer);
    await producer.connect();

    const committed = await producer.transaction();
    await committed.send({ topic, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] });
    await committed.commit();

    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ value: 'aborted-1' }] });
    await aborted.abort();

    const marker = await producer.transaction();
    await marker.send({ topic, messages: [{ value: 'committed-3' }] });
    await marker.commit();

    expect(await readValues(topic, 3, 'committed')).toEqual(['committed-1', 'committed-2', 'committed-3']);
    // A read-uncommitted reader does see the aborted record: the isolation level is what hides it.
    expect(await readValues(topic, 4, 'uncommitted')).toContain('aborted-1');
  });
});
