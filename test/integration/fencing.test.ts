import { randomUUID } from 'node:crypto';
import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fence } from '../../runtime/transactions.ts';
import { createTopic } from '../../topology/admin.ts';
import { kafka } from '../runtime-harness.ts';
import { uniqueName } from '../support.ts';

// What the runtime's exactly-once rests on, against the real broker: kafkajs 2.2.4's connect()
// does not fence a transactional id (its InitProducerId carries none), fence() does. The runtime
// reads a partition's committed offset only after fence() (README: the duplicate chunk).

let admin: Admin;
let topic: string;
const producers: Producer[] = [];
const producer = (transactionalId: string) => {
  const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  producers.push(p);
  return p;
};

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  topic = uniqueName('fencing');
  await createTopic(admin, { topic, numPartitions: 1 });
});
afterAll(async () => {
  await Promise.all(producers.map((p) => p.disconnect().catch(() => {})));
  await admin.disconnect();
});

describe('fencing a transactional id', () => {
  it("is not done by kafkajs's connect(): the previous holder still commits", async () => {
    const id = `fencing-${randomUUID()}`;
    const previous = producer(id);
    await previous.connect();
    const open = await previous.transaction();
    await open.send({ topic, messages: [{ value: 'previous' }], acks: -1 });
    await producer(id).connect();
    await expect(open.commit()).resolves.toBeUndefined();
  });

  it('is done by fence(): the previous holder can no longer commit', async () => {
    const id = `fencing-${randomUUID()}`;
    const previous = producer(id);
    await previous.connect();
    const open = await previous.transaction();
    await open.send({ topic, messages: [{ value: 'previous' }], acks: -1 });
    const next = producer(id);
    await next.connect();
    await fence(next);
    await expect(open.commit()).rejects.toThrow(/old epoch|fenced/i);
    // The new holder commits.
    const txn = await next.transaction();
    await txn.send({ topic, messages: [{ value: 'next' }], acks: -1 });
    await expect(txn.commit()).resolves.toBeUndefined();
  });
});
