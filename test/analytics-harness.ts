import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { waitFor } from '../lib/retry.ts';
import { analyticsTopics } from '../processors/analytics-router/processor.ts';
import { type DataType, routeDataRecord } from '../processors/analytics-router/records.ts';
import { readHeaders } from '../runtime/headers.ts';
import { loadSchema } from '../schemas/index.ts';
import type { DataRecord } from '../schemas/types.generated.ts';
import { createTopic } from '../topology/admin.ts';
import { codec, type EchoProcess, kafka, spawnFixture } from './runtime-harness.ts';
import { uniqueName } from './support.ts';

// Helpers for the analytics tests: the router's topics under a unique prefix, envelopes produced
// the way publish-data produces them, a reader over several topics, and the router as a child
// process (test/fixtures/analytics-process.ts).

export interface AnalyticsTestTopics {
  group: string;
  prefix: string;
  input: string;
  byType: Readonly<Record<DataType, string>>;
  rejected: string;
  outputs: string[];
  retries: string[];
  dlt: string;
  tiers: number[];
}

export async function createAnalyticsTopics(
  admin: Admin,
  partitions = 3,
  tiers: number[] = [300],
): Promise<AnalyticsTestTopics> {
  const group = uniqueName('analytics-test');
  const prefix = `${group}.`;
  const topics = analyticsTopics(prefix);
  const t: AnalyticsTestTopics = {
    group,
    prefix,
    input: topics.input,
    byType: topics.byType,
    rejected: topics.rejected,
    outputs: [...Object.values(topics.byType), topics.rejected],
    retries: tiers.map((_, i) => `${group}.retry-${i + 1}`),
    dlt: `${group}.dlt`,
    tiers,
  };
  for (const topic of [t.input, ...t.outputs, ...t.retries, t.dlt]) {
    await createTopic(admin, { topic, numPartitions: partitions });
  }
  await codec.register(t.input, loadSchema('data-record'));
  return t;
}

/** The key publish-data gives an envelope: the router's entity key, or the source record id. */
export const keyOf = (e: DataRecord) => {
  const r = routeDataRecord(e);
  return r.ok ? r.key : e.sourceRecordId;
};

export async function produceEnvelopes(topic: string, envelopes: DataRecord[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  try {
    for (let i = 0; i < envelopes.length; i += 1_000) {
      const messages = await Promise.all(
        envelopes
          .slice(i, i + 1_000)
          .map(async (e) => ({ key: keyOf(e), value: await codec.encode(topic, e) })),
      );
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface OutRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  raw: Buffer | null;
  value: Record<string, unknown> | null;
}

/**
 * Reads `topics` read-committed from the beginning until `atLeast` records arrived in all, then
 * `settleMs` more so that duplicates or strays would show, or until `timeoutMs`.
 */
export async function readOutputs(
  topics: readonly string[],
  opts: { atLeast: number; settleMs?: number; timeoutMs?: number },
): Promise<OutRecord[]> {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, readUncommitted: false });
  const out: OutRecord[] = [];
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      let value: Record<string, unknown> | null = null;
      try {
        value = (await codec.decode(message.value)) as Record<string, unknown>;
      } catch {
        value = null;
      }
      out.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key?.toString() ?? null,
        headers: readHeaders(message.headers as Record<string, unknown>),
        raw: message.value,
        value,
      });
    },
  });
  await waitFor(async () => out.length >= opts.atLeast, {
    timeoutMs: opts.timeoutMs ?? 60_000,
    intervalMs: 100,
  });
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 2_000));
  await consumer.disconnect();
  return out;
}

/** Records written to a topic so far (sum of high watermarks; transaction markers count too). */
export async function topicSize(admin: Admin, topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
}

export function spawnRouter(t: AnalyticsTestTopics, extraEnv: Record<string, string> = {}): EchoProcess {
  return spawnFixture('test/fixtures/analytics-process.ts', {
    FIXTURE_GROUP: t.group,
    FIXTURE_PREFIX: t.prefix,
    FIXTURE_TIERS: t.tiers.join(','),
    ...extraEnv,
  });
}
