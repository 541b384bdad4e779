import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { Admin, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { loadConfig } from '../config/index.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { describeError, UsageError } from '../lib/errors.ts';
import { Codec } from '../runtime/codec.ts';
import { readHeaders } from '../runtime/headers.ts';

// `regflow tail`: prints a topic's records as JSON lines, values decoded through the registry.
// Also home of readTopic, the bounded reader that `regflow dlq` uses as well.

/** Records shown per partition when neither --from-beginning nor --max says otherwise (like tail(1)). */
const DEFAULT_LAST = 10;

export interface TopicRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
}

export interface PartitionRange {
  partition: number;
  /** First offset still in the log. */
  low: number;
  /** Last stable offset when the read began: what a read-committed reader can reach. */
  high: number;
}

export interface ReadOptions {
  topic: string;
  /** The first offset to read of each partition (clamped to [low, high]). */
  startAt: (range: PartitionRange) => number;
  /** Keep reading past the end offsets that existed at start until `signal` aborts. */
  follow?: boolean;
  /** Stop after this many records in all. */
  max?: number;
  signal?: AbortSignal;
  /** Each batch of one partition's records, in offset order; a throw ends the read and is rethrown. */
  onRecords: (records: TopicRecord[]) => Promise<void>;
}

/** Throws the one-line error an operator expects for a topic that does not exist. */
export async function ensureTopic(admin: Admin, topic: string, hint = ''): Promise<void> {
  if (!(await admin.listTopics()).includes(topic)) throw new UsageError(`unknown topic "${topic}"${hint}`);
}

export async function readPartitionRanges(admin: Admin, topic: string): Promise<PartitionRange[]> {
  return (await admin.fetchTopicOffsets(topic))
    .map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }))
    .sort((a, b) => a.partition - b.partition);
}

/**
 * Reads `topic` read-committed from the chosen start offsets, through a throwaway consumer group
 * that never commits (kafkajs cannot assign partitions without one) and is deleted afterwards.
 * Without `follow` it ends once every partition reached the end offsets that existed at start, so
 * it terminates on an empty topic too. Resolves with the number of records handed to onRecords.
 */
export async function readTopic(kafka: Kafka, admin: Admin, opts: ReadOptions): Promise<number> {
  const { topic } = opts;
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  const ranges = await readPartitionRanges(admin, topic);
  const end = new Map(ranges.map((r) => [r.partition, r.high]));
  // The next offset to hand out per partition. It also drops what a fetch delivers twice (a fetch
  // racing a seek, a restart after a crash).
  const next = new Map(ranges.map((r) => [r.partition, Math.min(Math.max(opts.startAt(r), r.low), r.high)]));
  const reachedEnd = () => [...next].every(([p, offset]) => offset >= (end.get(p) ?? 0));

  if (max <= 0 || (!opts.follow && reachedEnd()) || opts.signal?.aborted) return 0;

  const groupId = `regflow-tail-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    // Short fetch waits: an idle partition must not hold up the exit by the default 5 s.
    maxWaitTimeInMs: 500,
  });
  let delivered = 0;
  let stopped = false;
  let finish!: (err?: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = (err) => {
      stopped = true;
      if (err === undefined) resolve();
      else reject(err);
    };
  });
  const onAbort = () => finish();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  // Seeking on every join (not once after run()) puts the first fetch, and a restarted consumer's,
  // at our positions instead of the earliest offset.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition, offset] of next) consumer.seek({ topic, partition, offset: String(offset) });
  });
  // Batches of only control records or aborted transactions never reach eachBatch; this event
  // still moves the position past them, or a transactional topic would never reach its end.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (stopped || payload.topic !== topic) return;
    const after = Number(payload.lastOffset) + 1;
    if (after > (next.get(payload.partition) ?? 0)) next.set(payload.partition, after);
    if (!opts.follow && reachedEnd()) finish();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) finish(payload.error);
  });

  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      // Offsets still get resolved after each batch (that is what moves the fetch position on),
      // they are just never committed.
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (stopped) return;
        const partition = batch.partition;
        const from = next.get(partition) ?? 0;
        const until = opts.follow ? Number.POSITIVE_INFINITY : (end.get(partition) ?? 0);
        const records: TopicRecord[] = [];
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset < from) continue;
          if (offset >= until || delivered + records.length >= max) break;
          records.push(toRecord(topic, partition, m));
        }
        if (records.length > 0) {
          try {
            await opts.onRecords(records);
          } catch (err) {
            // Not rethrown: kafkajs would log it and restart the consumer; the caller gets it instead.
            finish(err);
            return;
          }
          delivered += records.length;
          next.set(partition, records[records.length - 1]!.offset + 1);
        }
        if (delivered >= max) finish();
      },
    });
    await finished;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch(() => {});
    // The group never committed, but the broker keeps its (empty) entry until deleted.
    await admin.deleteGroups([groupId]).catch((err: unknown) => {
      // Not found: the consumer never got as far as joining.
      const groups = (err as { groups?: { error?: { type?: string } }[] }).groups ?? [];
      if (groups.length > 0 && groups.every((g) => g.error?.type === 'GROUP_ID_NOT_FOUND')) return;
      console.error(`regflow: could not delete consumer group ${groupId}: ${describeError(err)}`);
    });
  }
  return delivered;
}

function toRecord(topic: string, partition: number, m: KafkaMessage): TopicRecord {
  return {
    topic,
    partition,
    offset: Number(m.offset),
    timestamp: Number(m.timestamp),
    key: m.key ?? null,
    value: m.value ?? null,
    headers: m.headers,
  };
}

/** Avro bytes/fixed values come out of avsc as Buffers: print them as base64, not as byte arrays. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (
    value !== null &&
    typeof value === 'object' &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
  ) {
    return Buffer.from((value as { data: number[] }).data).toString('base64');
  }
  return value;
}

export const toJsonLine = (value: unknown) => JSON.stringify(value, jsonReplacer);

/**
 * Writes a line, waiting when stdout's buffer is full so a large dump into a pipe stays bounded.
 * Once the reader of the pipe is gone (`| head`), lines are dropped; stopSignal ends the read.
 */
export async function printLine(line: string): Promise<void> {
  const out = process.stdout;
  if (out.destroyed || out.write(`${line}\n`)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

/** The JSON object tail prints for one record: decoded value, or the reason it could not be decoded. */
export async function describeRecord(codec: Codec, r: TopicRecord): Promise<Record<string, unknown>> {
  const base = {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: new Date(r.timestamp).toISOString(),
    key: r.key === null ? null : r.key.toString('utf8'),
    headers: readHeaders(r.headers),
  };
  try {
    return { ...base, value: await codec.decode(r.value) };
  } catch (err) {
    return {
      ...base,
      error: describeError(err),
      valueBase64: r.value === null ? null : r.value.toString('base64'),
    };
  }
}

export function parseCount(option: string): (raw: string) => number {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw)) || Number(raw) < 1) {
      throw new UsageError(`${option} must be a positive integer (got "${raw}")`);
    }
    return Number(raw);
  };
}

/**
 * Aborts on Ctrl-C, SIGTERM, or when stdout's reader went away (EPIPE), so a read ends cleanly:
 * consumer left, throwaway group deleted, no stack trace for `regflow tail t | head`.
 */
export function stopSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    abort();
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.stdout.on('error', onStdoutError);
  return {
    signal: controller.signal,
    // The stdout listener stays: an EPIPE can still surface from a line written just before.
    dispose: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}

interface TailOptions {
  fromBeginning?: boolean;
  max?: number;
  follow?: boolean;
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description(
      'print records of a topic as JSON lines, Avro values decoded through the schema registry; ' +
        `without --from-beginning starts at the last ${DEFAULT_LAST} records (or --max) of each partition`,
    )
    .argument('<topic>', 'topic to read')
    .option('--from-beginning', 'start at the earliest record of each partition')
    .option('--max <n>', 'stop after n records', parseCount('--max'))
    .option('--follow', 'keep waiting for new records (Ctrl-C to stop)')
    .action(async (topic: string, options: TailOptions) => {
      const config = loadConfig();
      const kafka = createKafka(config.kafka);
      const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
      const admin = kafka.admin();
      const stop = stopSignal();
      await admin.connect();
      try {
        await ensureTopic(admin, topic);
        const last = options.max ?? DEFAULT_LAST;
        await readTopic(kafka, admin, {
          topic,
          startAt: (r) => (options.fromBeginning ? r.low : r.high - last),
          follow: options.follow === true,
          ...(options.max === undefined ? {} : { max: options.max }),
          signal: stop.signal,
          onRecords: async (records) => {
            for (const r of records) await printLine(toJsonLine(await describeRecord(codec, r)));
          },
        });
      } finally {
        stop.dispose();
        await admin.disconnect();
      }
    });
}
