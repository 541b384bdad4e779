import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
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

/**
 * Topics of a test's own for echo, with the input's value schema registered, and the output's
 * too unless `registerOutput` is false. (Echo processes register their output schema when they
 * start; two starting at once on a new subject can both try to create its compatibility rule,
 * and the registry refuses the second: see the codec's register.)
 */
export async function createEchoTopics(
  admin: Admin,
  partitions: number,
  tiers: number[] = [],
  { registerOutput = true }: { registerOutput?: boolean } = {},
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
  if (registerOutput) await codec.register(t.output, loadSchema('sample-event'));
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
  /** The writer of the record's batch (a transactional id keeps its producer id; the epoch tells its instances apart). */
  producerId: string;
  producerEpoch: number;
}

export interface ReadOptions {
  atLeast: number;
  settleMs?: number;
  timeoutMs?: number;
  uncommitted?: boolean;
}

export interface TopicRead {
  /** Each record of the topic once, in the order first read (per partition: offset order). */
  records: ReadRecord[];
  /** Records the reader's consumer delivered again at a (partition, offset) it had already read. */
  redeliveries: number;
  /** Times the reader's consumer (re)joined its group, and crashed. */
  joins: number;
  crashes: number;
}

/**
 * Reads `topic` from the beginning until `atLeast` records arrived, then for `settleMs` more so
 * that duplicates would show, or until `timeoutMs`. Read-committed unless asked otherwise.
 *
 * The reader is a kafkajs consumer in a group of its own. If it rejoins or restarts (a crash, a
 * fetch error), it fetches again from its last committed offset and delivers records it has
 * delivered before; those are the same records (same partition and offset), not duplicates in the
 * topic, so they are kept once here and counted as `redeliveries`. A record id that shows up at
 * two different positions is really in the topic twice.
 */
export async function readTopicDetailed(
  topic: string,
  opts: ReadOptions & {
    /** The reader's session timeout (kafkajs's default: 30 s). */
    sessionTimeoutMs?: number;
    /** Called after each new record is kept (the reader's own test slows it down with this). */
    onRecord?: (record: ReadRecord) => Promise<void>;
  },
): Promise<TopicRead> {
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    readUncommitted: opts.uncommitted ?? false,
    ...(opts.sessionTimeoutMs === undefined
      ? {}
      : { sessionTimeout: opts.sessionTimeoutMs, heartbeatInterval: Math.floor(opts.sessionTimeoutMs / 6) }),
  });
  const read: TopicRead = { records: [], redeliveries: 0, joins: 0, crashes: 0 };
  const seen = new Set<string>();
  consumer.on(consumer.events.GROUP_JOIN, () => {
    read.joins++;
  });
  consumer.on(consumer.events.CRASH, () => {
    read.crashes++;
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const position = `${partition}:${message.offset}`;
      if (seen.has(position)) {
        read.redeliveries++;
        return;
      }
      seen.add(position);
      let value: SampleEvent | null = null;
      try {
        value = (await codec.decode(message.value)) as SampleEvent;
      } catch {
        value = null;
      }
      const batch = (message as unknown as { batchContext?: { producerId: string; producerEpoch: number } })
        .batchContext;
      const record: ReadRecord = {
        partition,
        offset: message.offset,
        key: message.key?.toString() ?? null,
        headers: readHeaders(message.headers as Record<string, unknown>),
        timestamp: Number(message.timestamp),
        raw: message.value,
        value,
        producerId: String(batch?.producerId ?? '-1'),
        producerEpoch: Number(batch?.producerEpoch ?? -1),
      };
      read.records.push(record);
      await opts.onRecord?.(record);
    },
  });
  await waitFor(async () => read.records.length >= opts.atLeast, {
    timeoutMs: opts.timeoutMs ?? 60_000,
    intervalMs: 100,
  });
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 1_500));
  await consumer.disconnect();
  if (read.redeliveries > 0 || read.joins > 1 || read.crashes > 0) {
    process.stderr.write(
      `READER ${JSON.stringify({ topic, redeliveries: read.redeliveries, joins: read.joins, crashes: read.crashes })}\n`,
    );
  }
  return read;
}

/** The topic's records (each once; see readTopicDetailed). */
export async function readTopic(topic: string, opts: ReadOptions): Promise<ReadRecord[]> {
  return (await readTopicDetailed(topic, opts)).records;
}

/**
 * Ids written more than once (at different positions), with where each copy sits and which
 * producer instance wrote it: a real exactly-once violation, described for the test's message.
 */
export function duplicatesOf(records: ReadRecord[]): string[] {
  const byId = new Map<string, ReadRecord[]>();
  for (const r of records) {
    const id = r.value?.id ?? '?';
    byId.set(id, [...(byId.get(id) ?? []), r]);
  }
  return [...byId]
    .filter(([id, copies]) => id !== '?' && copies.length > 1)
    .map(
      ([id, copies]) =>
        `${id} at ${copies.map((c) => `${c.partition}:${c.offset} (pid ${c.producerId} epoch ${c.producerEpoch})`).join(', ')}`,
    );
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
    ...extraEnv,
  });
}

/** A processor fixture script (printing `FIXTURE {json}` lines) as a child process, with test defaults. */
export function spawnFixture(script: string, env: Record<string, string>): EchoProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      REGFLOW_HTTP_PORT: '0',
      REGFLOW_KAFKA_SESSION_TIMEOUT_MS: '6000',
      REGFLOW_BATCH_MAX_RECORDS: '50',
      REGFLOW_LOG_LEVEL: process.env.FIXTURE_LOG_LEVEL ?? 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  // FIXTURE_LOG_DIR (set by whoever runs the tests, e.g. a loop hunting a race) keeps each
  // process's full output in a file of its own.
  const logDir = process.env.FIXTURE_LOG_DIR;
  const logFile = logDir ? join(logDir, `${env.FIXTURE_GROUP ?? 'fixture'}-${child.pid}.log`) : null;
  const keep = (b: Buffer) => {
    text += b.toString();
    if (logFile) appendFileSync(logFile, b);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
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
