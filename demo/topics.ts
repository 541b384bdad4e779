import type { Admin, Kafka } from 'kafkajs';
import { readTopic, type TopicRecord } from '../cli/tail.ts';
import { topology } from '../topology/index.ts';
import { deadLetterTopicName } from '../topology/types.ts';

// Counting what the run wrote on a topic: the end offsets at the start, then the records read
// from there. (End offsets alone overcount on transactional topics: every commit adds a marker.)

export type Offsets = Map<number, number>;

export async function endOffsets(admin: Admin, topic: string): Promise<Offsets> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}

const total = (o: Offsets) => [...o.values()].reduce((a, b) => a + b, 0);

/** The records written to `topic` since `from` (read-committed), those `keep` accepts. */
export async function recordsSince(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  from: Offsets,
  keep: (r: TopicRecord) => boolean = () => true,
): Promise<TopicRecord[]> {
  const now = await endOffsets(admin, topic);
  if (total(now) === total(from)) return [];
  const found: TopicRecord[] = [];
  await readTopic(kafka, admin, {
    topic,
    startAt: (r) => from.get(r.partition) ?? r.low,
    onRecords: async (records) => {
      for (const r of records) if (keep(r)) found.push(r);
    },
  });
  return found;
}

/** The dead-letter topics of every processor in the topology that exist. */
export async function deadLetterTopics(admin: Admin): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  return topology.processors.map((p) => deadLetterTopicName(p.name)).filter((t) => existing.has(t));
}

/** End offsets of every dead-letter topic: the start line of the run's dead-letter count. */
export async function deadLetterOffsets(admin: Admin): Promise<Map<string, Offsets>> {
  const out = new Map<string, Offsets>();
  for (const topic of await deadLetterTopics(admin)) out.set(topic, await endOffsets(admin, topic));
  return out;
}

/** Dead letters written since `before`, per topic (only topics that got any). */
export async function deadLettersSince(
  kafka: Kafka,
  admin: Admin,
  before: Map<string, Offsets>,
): Promise<Array<{ topic: string; count: number }>> {
  const out: Array<{ topic: string; count: number }> = [];
  for (const [topic, from] of before) {
    const records = await recordsSince(kafka, admin, topic, from);
    if (records.length > 0) out.push({ topic, count: records.length });
  }
  return out;
}
