import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { REPO_ROOT } from '../config/index.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { waitFor } from '../lib/retry.ts';
import { Codec } from '../runtime/codec.ts';
import { readHeaders } from '../runtime/headers.ts';
import { loadSchema } from '../schemas/index.ts';
import type { SampleEvent } from '../schemas/types.generated.ts';
import { createTopic } from '../topology/admin.ts';
import { config, uniqueName } from './support.ts';

// Helpers for the runtime's integration tests: topics of one's own, Avro sample events, a
// read-committed reader, and echo processors as child processes that can be killed or stopped.

export const kafka: Kafka = createKafka(config.kafka);
export const codec = new Codec(createSchemaRegistry(config.schemaRegistry));

export interface EchoTopics {
  group: string;
  input: string;
  output: string;
  retries: string[];
  dlt: string;
  tiers: number[];
}

export async function createEchoTopics(
  admin: Admin,
  partitions: number,
  tiers: number[] = [],
): Promise<EchoTopics> {
  const group = uniqueName('echo-test');
  const t: EchoTopics = {
    group,
    input: `${group}.in`,
    output: `${group}.out`,
    retries: tiers.map((_, i) => `${group}.retry-${i + 1}`),
    dlt: `${group}.dlt`,
    tiers,
  };
  for (const topic of [t.input, t.output, ...t.retries, t.dlt]) {
    await createTopic(admin, { topic, numPartitions: partitions });
  }
  await codec.register(t.input, loadSchema('sample-event'));
  return t;
}

export function sampleEvents(
  count: number,
  keys: number,
  behaviorOf: (i: number) => string = () => 'ok',
): SampleEvent[] {
  const seq = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const key = `fan-${i % keys}`;
    const n = (seq.get(key) ?? 0) + 1;
    seq.set(key, n);
    return {
      id: `e-${i}`,
      key,
      seq: n,
      payload: `payload-${i}`,
      behavior: behaviorOf(i),
      producedAt: Date.now(),
    };
  });
}

export async function produceEvents(topic: string, events: SampleEvent[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  try {
    const messages = await Promise.all(
      events.map(async (e) => ({ key: e.key, value: await codec.encode(topic, e) })),
    );
    await producer.send({ topic, messages, acks: -1 });
  } finally {
    await producer.disconnect();
  }
}

/** Writes each group of events in its own Kafka transaction, so the topic carries commit markers. */
export async function produceEventsTransactionally(topic: string, groups: SampleEvent[][]): Promise<void> {
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    transactionalId: `test-producer-${randomUUID()}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    for (const events of groups) {
      const messages = await Promise.all(
        events.map(async (e) => ({ key: e.key, value: await codec.encode(topic, e) })),
      );
      const txn = await producer.transaction();
      await txn.send({ topic, messages, acks: -1 });
      await txn.commit();
    }
  } finally {
    await producer.disconnect();
  }
}

export async function produceRaw(topic: string, messages: { key: string; value: Buffer }[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();
}

export interface ReadRecord {
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  timestamp: number;
  raw: Buffer | null;
  value: SampleEvent | null;
}

/**
 * Reads `topic` from the beginning until `atLeast` records arrived, then for `settleMs` more so
 * that duplicates would show, or until `timeoutMs`. Read-committed unless asked otherwise.
 */
export async function readTopic(
  topic: string,
  opts: { atLeast: number; settleMs?: number; timeoutMs?: number; uncommitted?: boolean },
): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    readUncommitted: opts.uncommitted ?? false,
  });
  const records: ReadRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      let value: SampleEvent | null = null;
      try {
        value = (await codec.decode(message.value)) as SampleEvent;
      } catch {
        value = null;
      }
      records.push({
        partition,
        offset: message.offset,
        key: message.key?.toString() ?? null,
        headers: readHeaders(message.headers as Record<string, unknown>),
        timestamp: Number(message.timestamp),
        raw: message.value,
        value,
      });
    },
  });
  await waitFor(async () => records.length >= opts.atLeast, {
    timeoutMs: opts.timeoutMs ?? 60_000,
    intervalMs: 100,
  });
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 1_500));
  await consumer.disconnect();
  return records;
}

export interface EchoProcess {
  child: ChildProcess;
  output: () => string;
  waitForEvent(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export function spawnEcho(t: EchoTopics, extraEnv: Record<string, string> = {}): EchoProcess {
  return spawnFixture('test/fixtures/echo-process.ts', {
    FIXTURE_GROUP: t.group,
    FIXTURE_INPUT: t.input,
    FIXTURE_OUTPUT: t.output,
    FIXTURE_TIERS: t.tiers.join(','),
    REGFLOW_KAFKA_SESSION_TIMEOUT_MS: '6000',
    REGFLOW_BATCH_MAX_RECORDS: '50',
    ...extraEnv,
  });
}

/** Runs a fixture script (path from the repo root) under tsx; it reports `FIXTURE {json}` lines. */
export function spawnFixture(script: string, env: Record<string, string>): EchoProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { ...process.env, REGFLOW_HTTP_PORT: '0', REGFLOW_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (b: Buffer) => {
    text += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    text += b.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  const events = () =>
    text
      .split('\n')
      .filter((l) => l.startsWith('FIXTURE '))
      .map((l) => JSON.parse(l.slice('FIXTURE '.length)) as Record<string, unknown>);
  return {
    child,
    output: () => text,
    exited,
    async waitForEvent(event, timeoutMs = 60_000) {
      let found: Record<string, unknown> | undefined;
      const ok = await waitFor(
        async () => {
          found = events().find((e) => e.event === event || e.event === 'failed');
          return found !== undefined || !alive;
        },
        { timeoutMs, intervalMs: 100 },
      );
      if (!ok || !found || found.event !== event) {
        throw new Error(`processor did not report '${event}'; output:\n${text.slice(-4_000)}`);
      }
      return found;
    },
    async stop() {
      if (!alive) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 20_000))]);
      if (done === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The ids of the records, as a sorted multiset (duplicates kept). */
export const idsOf = (records: ReadRecord[]) => records.map((r) => r.value?.id ?? '?').sort();
