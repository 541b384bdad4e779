import type { Command } from 'commander';
import { type Admin, type IHeaders, type Kafka, Partitioners, type Producer } from 'kafkajs';
import { loadConfig } from '../config/index.ts';
import { createKafka } from '../lib/clients.ts';
import { UsageError } from '../lib/errors.ts';
import { Header, readHeaders } from '../runtime/headers.ts';
import { readGroupOffsets } from '../runtime/offsets.ts';
import { connectFenced } from '../runtime/transactions.ts';
import { topology } from '../topology/index.ts';
import { deadLetterTopicName } from '../topology/types.ts';
import { ensureTopic, parseCount, printLine, readTopic, stopSignal, type TopicRecord } from './tail.ts';

// `regflow dlq list|redrive <processor>`: inspect a processor's dead letters and send them back to
// the topic they came from. Redrive is exactly-once: the republished records and the DLT offsets
// of the `<processor>.dlq-redrive` group commit in one transaction, so re-running the command, or
// running it after a crash, never sends a dead letter twice.

export const redriveGroupOf = (processor: string) => `${processor}.dlq-redrive`;
export const redriveTransactionalIdOf = (processor: string) => `${processor}.dlq-redrive`;

/** Headers that describe the failure, not the record: a redriven record starts with a clean slate. */
const isFailureHeader = (name: string) =>
  name.startsWith('kafka_dlt-exception-') || name.startsWith('retry_topic-');

export interface Redrive {
  from: string;
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

/** Where a dead letter goes back to, or why it cannot. Pure: the dry run says what redrive does. */
export function planRedrive(r: TopicRecord): Redrive | { from: string; skip: string } {
  const from = `${r.topic}/${r.partition}/${r.offset}`;
  const topic = readHeaders(r.headers)[Header.ORIGINAL_TOPIC];
  if (topic === undefined || topic === '') return { from, skip: `no ${Header.ORIGINAL_TOPIC} header` };
  // Raw header values, so a binary header someone else set survives the round trip unchanged.
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(r.headers ?? {})) {
    if (value !== undefined && !isFailureHeader(name)) headers[name] = value;
  }
  headers[Header.REDRIVEN_FROM] = from;
  return { from, topic, key: r.key, value: r.value, headers };
}

const oneLine = (s: string | undefined) => (s ?? '-').replace(/\s+/g, ' ').trim() || '-';
const keyText = (key: Buffer | null) => (key === null ? '-' : key.toString('utf8'));

/** One operator line per dead letter: where it sits, its key, where it came from, and why it died. */
export function describeDeadLetter(r: TopicRecord, redriven: boolean): string {
  const h = readHeaders(r.headers);
  const origin =
    h[Header.ORIGINAL_TOPIC] === undefined
      ? '(no origin headers)'
      : `${h[Header.ORIGINAL_TOPIC]}/${h[Header.ORIGINAL_PARTITION] ?? '?'}/${h[Header.ORIGINAL_OFFSET] ?? '?'}`;
  return [
    `${r.partition}/${r.offset}`,
    `key=${keyText(r.key)}`,
    `from=${origin}`,
    `attempts=${h[Header.ATTEMPTS] ?? '?'}`,
    redriven ? 'redriven' : 'pending',
    `${oneLine(h[Header.EXCEPTION_FQCN])}: ${oneLine(h[Header.EXCEPTION_MESSAGE])}`,
  ].join('  ');
}

function unknownDltHint(processor: string): string {
  const known = topology.processors.map((p) => p.name).join(', ');
  return ` (no dead-letter topic for processor "${processor}"; known processors: ${known || 'none'})`;
}

/** Per partition, the first offset the redrive group has not handled yet (null: none handled). */
async function redriveOffsets(
  admin: Admin,
  processor: string,
  dlt: string,
): Promise<Map<number, number | null>> {
  const rows = await readGroupOffsets(admin, redriveGroupOf(processor), [dlt]);
  return new Map(rows.map((r) => [r.partition, r.offset]));
}

async function withKafka<T>(fn: (kafka: Kafka, admin: Admin, signal: AbortSignal) => Promise<T>): Promise<T> {
  const kafka = createKafka(loadConfig().kafka);
  const admin = kafka.admin();
  const stop = stopSignal();
  await admin.connect();
  try {
    return await fn(kafka, admin, stop.signal);
  } finally {
    stop.dispose();
    await admin.disconnect();
  }
}

export async function listDeadLetters(processor: string, options: { max?: number }): Promise<void> {
  await withKafka(async (kafka, admin, signal) => {
    const dlt = deadLetterTopicName(processor);
    await ensureTopic(admin, dlt, unknownDltHint(processor));
    const handled = await redriveOffsets(admin, processor, dlt);
    let pending = 0;
    const count = await readTopic(kafka, admin, {
      topic: dlt,
      startAt: (r) => r.low,
      signal,
      ...(options.max === undefined ? {} : { max: options.max }),
      onRecords: async (records) => {
        for (const r of records) {
          const redriven = r.offset < (handled.get(r.partition) ?? 0);
          if (!redriven) pending++;
          await printLine(describeDeadLetter(r, redriven));
        }
      },
    });
    console.log(`${count} dead letter${count === 1 ? '' : 's'} in ${dlt} (${pending} not redriven)`);
  });
}

/** Sends one partition's batch and the group's next offset for it in one transaction. */
async function redriveInTransaction(
  producer: Producer,
  processor: string,
  records: readonly TopicRecord[],
  redrives: readonly Redrive[],
): Promise<void> {
  const last = records[records.length - 1]!;
  const byTopic = new Map<string, Redrive[]>();
  for (const r of redrives) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
  const tx = await producer.transaction();
  try {
    if (byTopic.size > 0) {
      await tx.sendBatch({
        topicMessages: [...byTopic].map(([topic, rs]) => ({
          topic,
          messages: rs.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
        })),
      });
    }
    // Skipped records are committed past too: they cannot be redriven, and `dlq list` still shows them.
    await tx.sendOffsets({
      consumerGroupId: redriveGroupOf(processor),
      topics: [
        { topic: last.topic, partitions: [{ partition: last.partition, offset: String(last.offset + 1) }] },
      ],
    });
    await tx.commit();
  } catch (err) {
    await tx.abort().catch(() => {});
    throw err;
  }
}

export async function redriveDeadLetters(
  processor: string,
  options: { execute?: boolean; max?: number },
): Promise<void> {
  await withKafka(async (kafka, admin, signal) => {
    const dlt = deadLetterTopicName(processor);
    await ensureTopic(admin, dlt, unknownDltHint(processor));
    const execute = options.execute === true;
    // Only a real run connects: it fences (aborts) the open transaction of any earlier run of this
    // command, and waits for it, so the group offsets read next are final.
    const producer = execute
      ? kafka.producer({
          transactionalId: redriveTransactionalIdOf(processor),
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          createPartitioner: Partitioners.DefaultPartitioner,
        })
      : null;
    if (producer) await connectFenced(producer);
    try {
      const handled = await redriveOffsets(admin, processor, dlt);
      const topics = new Set(await admin.listTopics());
      let redriven = 0;
      let skipped = 0;
      await readTopic(kafka, admin, {
        topic: dlt,
        startAt: (r) => handled.get(r.partition) ?? r.low,
        // Ctrl-C stops between transactions: what was redriven so far is committed, the rest is not.
        signal,
        ...(options.max === undefined ? {} : { max: options.max }),
        onRecords: async (records) => {
          const plans = records.map(planRedrive);
          const redrives = plans.filter((p): p is Redrive => 'topic' in p);
          const missing = redrives.find((r) => !topics.has(r.topic));
          if (missing) {
            throw new UsageError(
              `${missing.from}: original topic "${missing.topic}" does not exist; nothing from there on was redriven`,
            );
          }
          if (producer) await redriveInTransaction(producer, processor, records, redrives);
          for (const p of plans) {
            if ('skip' in p) {
              skipped++;
              await printLine(`skipped ${p.from}: ${p.skip}`);
            } else {
              redriven++;
              await printLine(
                `${execute ? 'redriven' : 'would redrive'} ${p.from} -> ${p.topic} key=${keyText(p.key)}`,
              );
            }
          }
        },
      });
      const skippedNote = skipped > 0 ? `, skipped ${skipped}` : '';
      console.log(
        execute
          ? `redrove ${redriven} dead letter${redriven === 1 ? '' : 's'} from ${dlt}${skippedNote}`
          : `dry run: would redrive ${redriven} dead letter${redriven === 1 ? '' : 's'} from ${dlt}${skippedNote}; add --execute to redrive`,
      );
    } finally {
      await producer?.disconnect();
    }
  });
}

export function registerDlq(program: Command): void {
  const dlq = program
    .command('dlq')
    .description("inspect and redrive a processor's dead letters (<processor>.dlt)");
  dlq
    .command('list')
    .description('print every dead letter: position, key, origin, attempts, error; and the count')
    .argument('<processor>', 'processor (consumer group) name')
    .option('--max <n>', 'print at most n dead letters', parseCount('--max'))
    .action((processor: string, options: { max?: number }) => listDeadLetters(processor, options));
  dlq
    .command('redrive')
    .description(
      'republish dead letters not redriven yet to their original topic (original key, value, headers ' +
        'minus the failure headers, plus regflow-redriven-from), exactly once',
    )
    .argument('<processor>', 'processor (consumer group) name')
    .option('--execute', 'redrive; without it, only print what would be redriven')
    .option('--max <n>', 'handle at most n dead letters', parseCount('--max'))
    .action((processor: string, options: { execute?: boolean; max?: number }) =>
      redriveDeadLetters(processor, options),
    );
}
