import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../lib/clients.ts';
import { connectFenced } from '../../runtime/transactions.ts';
import { createTopic } from '../../topology/admin.ts';
import { config, uniqueName } from '../support.ts';

// Why the runtime fences explicitly when it opens a partition's producer: kafkajs's connect()
// sends InitProducerId without the transactional id, so it fences nothing. A new owner that read
// the committed offsets right after connect() could read them while the previous owner's last
// transaction was still completing, and handle that transaction's records a second time (the
// "duplicate chunk" once seen in CI).

const kafka = createKafka(config.kafka);
let admin: Admin;
const producers: Producer[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await Promise.all(producers.map((p) => p.disconnect().catch(() => {})));
  await admin.disconnect();
});

const transactional = (transactionalId: string) => {
  const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  producers.push(p);
  return p;
};

/** A previous owner in the middle of a transaction: a record sent and offset 1 added, not committed. */
async function openTransaction(transactionalId: string, topic: string, group: string) {
  const owner = transactional(transactionalId);
  await connectFenced(owner);
  const txn = await owner.transaction();
  await txn.send({ topic, messages: [{ value: 'from the previous owner' }] });
  await txn.sendOffsets({
    consumerGroupId: group,
    topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }],
  });
  return txn;
}

const committedOffset = async (group: string, topic: string) =>
  (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions[0]?.offset;

describe('fencing a partition producer', () => {
  it("kafkajs's connect() alone does not fence the previous holder of the transactional id", async () => {
    const topic = uniqueName('fence');
    await createTopic(admin, { topic, numPartitions: 1 });
    const id = uniqueName('fence-tx');
    const previous = await openTransaction(id, topic, `${topic}-group`);
    await transactional(id).connect();
    await previous.commit();
    expect(await committedOffset(`${topic}-group`, topic)).toBe('1');
  });

  it('connectFenced aborts the previous holder’s open transaction before it returns', async () => {
    const topic = uniqueName('fence');
    await createTopic(admin, { topic, numPartitions: 1 });
    const id = uniqueName('fence-tx');
    const previous = await openTransaction(id, topic, `${topic}-group`);
    await connectFenced(transactional(id));
    expect(await committedOffset(`${topic}-group`, topic)).toBe('-1');
    await expect(previous.commit()).rejects.toThrow(/epoch|fenced/i);
    expect(await committedOffset(`${topic}-group`, topic)).toBe('-1');
  });
});
