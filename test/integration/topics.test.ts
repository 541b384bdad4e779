import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../lib/clients.ts';
import { ensureTopics, topicLag } from '../../topology/admin.ts';
import type { TopicSpec } from '../../topology/types.ts';
import { config, uniqueName } from '../support.ts';

const kafka = createKafka(config.kafka);
let admin: Admin;
let producer: Producer;
const created: string[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  producer = kafka.producer({ idempotent: true });
  await Promise.all([admin.connect(), producer.connect()]);
});

afterAll(async () => {
  if (created.length > 0) await admin.deleteTopics({ topics: created });
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

const spec = (name: string, partitions: number, extra: Partial<TopicSpec> = {}): TopicSpec => {
  if (!created.includes(name)) created.push(name);
  return {
    name,
    partitions,
    cleanupPolicy: 'delete',
    retentionMs: 3_600_000,
    valueSchema: 'sample-event',
    description: 'integration test topic',
    ...extra,
  };
};

const partitionCount = async (topic: string) =>
  (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length;

describe('ensureTopics against the broker', () => {
  it('creates missing topics once, then finds them as specified', async () => {
    const specs = [spec(uniqueName('it.topics.a'), 3), spec(uniqueName('it.topics.b'), 1)];

    const first = await ensureTopics(admin, specs);
    expect(first).toEqual({ created: specs.map((s) => s.name), ok: [], drift: [] });
    expect(await partitionCount(specs[0]!.name)).toBe(3);

    const second = await ensureTopics(admin, specs);
    expect(second).toEqual({ created: [], ok: specs.map((s) => s.name), drift: [] });
  });

  it('reports a topic whose partitions or configuration differ, and leaves it as it is', async () => {
    const name = uniqueName('it.topics.drift');
    await ensureTopics(admin, [spec(name, 2)]);

    const report = await ensureTopics(admin, [spec(name, 4, { retentionMs: 7_200_000 })]);
    expect(report.created).toEqual([]);
    expect(report.ok).toEqual([]);
    expect(report.drift).toEqual([
      { topic: name, field: 'partitions', expected: '4', actual: '2' },
      { topic: name, field: 'retention.ms', expected: '7200000', actual: '3600000' },
    ]);
    expect(await partitionCount(name)).toBe(2);
  });
});

describe('topicLag', () => {
  it('counts from the committed offset, or from the earliest record when the group committed none', async () => {
    const topic = uniqueName('it.topics.lag');
    await ensureTopics(admin, [spec(topic, 2)]);
    await producer.send({
      topic,
      messages: [0, 0, 0, 0, 0, 1, 1].map((partition, i) => ({ partition, value: `v${i}` })),
    });
    const groupId = uniqueName('it-lag');
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] });

    expect(await topicLag(admin, groupId, [topic])).toEqual([
      { topic, partition: 0, committed: 3, low: 0, high: 5, lag: 2 },
      { topic, partition: 1, committed: -1, low: 0, high: 2, lag: 2 },
    ]);
  });
});
