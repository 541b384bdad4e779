import type { Admin, Kafka, Producer, TopicMessages } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { createRetry } from '../lib/retry.ts';
import type { EncodedMessage } from './process-record.ts';
import type { FaultHooks } from './types.ts';

// One transactional producer per assigned input partition. kafkajs has no KIP-447, so the
// transactional id (processor + topic + partition) is what fences a previous owner of the
// partition: a crashed process's open transaction, or a paused zombie that wakes up.

export interface PartitionState {
  producer: Producer;
  /** The group generation (our count of joins) the producer was opened in. */
  generation: number;
  /** Next offset to handle, as committed for the group; null when the group never committed. */
  next: bigint | null;
  /** When a batch last held it (or it opened): closeIdle's clock. */
  lastUsed: number;
}

export const transactionalIdOf = (processor: string, topic: string, partition: number) =>
  `${processor}-${topic}-${partition}`;

const keyOf = (topic: string, partition: number) => `${topic}:${partition}`;

/** What PartitionProducers needs of a kafkajs client: a producer factory (a fake in unit tests). */
export interface ProducerFactory {
  producer: Kafka['producer'];
}

/** Where a partition's committed offset comes from: kafkajs's admin, or a fake in unit tests. */
export type OffsetReader = Pick<Admin, 'fetchOffsets'>;

/**
 * Sends the InitProducerId that carries the producer's transactional id: it bumps the epoch (so
 * any earlier holder of the id, a crashed or paused previous owner of the partition, can no longer
 * write or commit) and returns only once that holder's open transaction is committed or aborted
 * (kafkajs retries CONCURRENT_TRANSACTIONS).
 *
 * kafkajs 2.2.4's connect() does NOT do this: it asks for an idempotent producer id without the
 * transactional id (src/producer/index.js: connect → idempotentEosManager.initProducerId, an EOS
 * manager created with `transactional: false`), which fences nothing and waits for nothing. The
 * transactional InitProducerId goes out lazily, from the first transaction() (same file: "We only
 * initialize the producer id once"). Reading the committed offset after connect() alone therefore
 * raced with the previous owner's last transaction: the cause of the duplicate chunk (issue 6).
 * An empty transaction aborted at once registers nothing, so kafkajs sends no EndTxn for it.
 */
export async function fence(producer: Producer): Promise<void> {
  const txn = await producer.transaction();
  await txn.abort();
}

/** Connects a transactional producer and fences every earlier holder of its transactional id (see fence). */
export async function connectFenced(producer: Producer): Promise<void> {
  await producer.connect();
  await fence(producer);
}

/**
 * kafkajs 2.2.4 retries CONCURRENT_TRANSACTIONS on AddPartitionsToTxn (the sends) and
 * TxnOffsetCommit, but not on AddOffsetsToTxn (src/producer/eosManager/index.js, sendOffsets):
 * a transaction with no outputs (user-upserter, an entry-filter batch that keeps nothing) starts
 * with AddOffsetsToTxn, which meets the previous commit's markers still being written (a few ms)
 * and used to abort the transaction and restart the partition. Retried here, briefly.
 */
const whileConcurrent = createRetry({
  attempts: 8,
  initialDelayMs: 10,
  maxDelayMs: 500,
  jitter: 0.2,
  shouldRetry: (err) => (err as { type?: unknown } | null)?.type === 'CONCURRENT_TRANSACTIONS',
});

/**
 * Most bytes of records in one produce request of a transaction. kafkajs puts all of a request's
 * records for one partition into one record batch, and the broker refuses a batch over
 * `message.max.bytes` (1 MiB by default) with MESSAGE_TOO_LARGE: a chunk whose outputs all go to
 * one partition (echo keeps keys, so partition p's records all land on output partition p) would
 * abort forever. So a transaction's records go out in several requests when they are larger.
 */
export const MAX_SEND_BYTES = 512 * 1024;

/**
 * Most bytes of one output record (key, value, headers, and the record's overhead as recordBytes
 * counts it). A record batch of one record over the broker's `message.max.bytes` (1 MiB by
 * default) is refused with MESSAGE_TOO_LARGE, and since the transaction aborts and the chunk is
 * handled again, forever: the runtime dead-letters the input of such an output instead
 * (process-record.ts encodeOutputs). 1 KiB under 1 MiB leaves room for the batch's own header.
 */
export const MAX_RECORD_BYTES = 1024 * 1024 - 1024;

/** What a record costs in a produce request, roughly: key, value, headers and 64 bytes of framing. */
export const recordBytes = (m: Pick<EncodedMessage, 'key' | 'value' | 'headers'>) => {
  let n = (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64;
  for (const [k, v] of Object.entries(m.headers)) n += k.length + v.length;
  return n;
};
const sizeOf = recordBytes;

/** The messages grouped by topic, cut into sends of at most MAX_SEND_BYTES (order kept per topic). */
export function splitForSend(
  messages: readonly EncodedMessage[],
  maxBytes = MAX_SEND_BYTES,
): TopicMessages[][] {
  const sends: TopicMessages[][] = [];
  let byTopic = new Map<string, TopicMessages>();
  let bytes = 0;
  for (const m of messages) {
    const size = sizeOf(m);
    if (bytes > 0 && bytes + size > maxBytes) {
      sends.push([...byTopic.values()]);
      byTopic = new Map();
      bytes = 0;
    }
    const entry = byTopic.get(m.topic) ?? { topic: m.topic, messages: [] };
    entry.messages.push({ key: m.key, value: m.value, headers: m.headers });
    byTopic.set(m.topic, entry);
    bytes += size;
  }
  if (byTopic.size > 0) sends.push([...byTopic.values()]);
  return sends;
}

export class PartitionProducers {
  private readonly partitions = new Map<string, PartitionState>();
  /** Batches in hand per partition: a held partition's producer is never closed as idle. */
  private readonly holds = new Map<string, number>();
  /** The partitions of the current generation's assignment; a producer opens only for these. */
  private assigned = new Set<string>();
  private generation = 0;
  private transactions = 0;
  private begun = 0;

  constructor(
    private readonly kafka: ProducerFactory,
    private readonly admin: OffsetReader,
    private readonly group: string,
    private readonly faults?: FaultHooks,
  ) {}

  /**
   * A new group generation. Every partition starts from scratch: one we owned before may have
   * been handled elsewhere meanwhile, so its producer must fence again and re-read the offsets.
   * Producers of partitions we keep are replaced by their next batch (one may be committing right
   * now); those of partitions we lost are closed (their commit must fail).
   */
  rebalanced(assignment: Record<string, number[]>): void {
    this.generation++;
    this.assigned = new Set(Object.entries(assignment).flatMap(([t, ps]) => ps.map((p) => keyOf(t, p))));
    for (const [key, state] of [...this.partitions]) {
      if (this.assigned.has(key)) continue;
      this.partitions.delete(key);
      void state.producer.disconnect().catch(() => {});
    }
  }

  /** The current generation (our count of joins). */
  get currentGeneration(): number {
    return this.generation;
  }

  /**
   * The partition's producer for the current generation, opened (and fenced) when needed; null
   * when the partition is not in the current assignment. Opening a producer fences every other
   * holder of the partition's transactional id, so a batch fetched for a partition this member no
   * longer owns must never open one: it would fence the true owner's transaction.
   */
  async acquire(
    topic: string,
    partition: number,
  ): Promise<{ state: PartitionState; opened: boolean } | null> {
    const key = keyOf(topic, partition);
    if (!this.assigned.has(key)) return null;
    const existing = this.partitions.get(key);
    if (existing !== undefined && existing.generation === this.generation)
      return { state: existing, opened: false };
    if (existing !== undefined) await this.drop(topic, partition);
    const state = await this.open(topic, partition);
    if (state.generation !== this.generation) {
      // A rebalance happened while the producer was opening: this state belongs to an older
      // generation (and the partition may have moved). Give it up; the next batch starts over.
      await state.producer.disconnect().catch(() => {});
      return null;
    }
    this.partitions.set(key, state);
    return { state, opened: true };
  }

  /** A batch of the partition is in hand (from before its acquire until after its last commit). */
  hold(topic: string, partition: number): void {
    const key = keyOf(topic, partition);
    this.holds.set(key, (this.holds.get(key) ?? 0) + 1);
  }

  release(topic: string, partition: number, now = Date.now()): void {
    const key = keyOf(topic, partition);
    const n = (this.holds.get(key) ?? 0) - 1;
    if (n > 0) this.holds.set(key, n);
    else this.holds.delete(key);
    const state = this.partitions.get(key);
    if (state) state.lastUsed = now;
  }

  /**
   * Closes the producers no batch held for `idleMs`: each holds its own broker connections, and
   * after a burst of records a processor process would otherwise keep one per partition it ever
   * handled until the next rebalance. The partition's next batch opens (and fences) a new one and
   * re-reads the committed offset, as after a rebalance. Returns how many it closed.
   */
  closeIdle(idleMs: number, now = Date.now()): number {
    let closed = 0;
    for (const [key, state] of [...this.partitions]) {
      if (this.holds.has(key) || now - state.lastUsed < idleMs) continue;
      this.partitions.delete(key);
      void state.producer.disconnect().catch(() => {});
      closed++;
    }
    return closed;
  }

  /** Producers open now. */
  get size(): number {
    return this.partitions.size;
  }

  async drop(topic: string, partition: number): Promise<void> {
    const state = this.partitions.get(keyOf(topic, partition));
    this.partitions.delete(keyOf(topic, partition));
    await state?.producer.disconnect().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const states = [...this.partitions.values()];
    this.partitions.clear();
    await Promise.all(states.map((s) => s.producer.disconnect().catch(() => {})));
  }

  /** Outputs, retry / dead-letter records and the consumed offset, in one transaction. */
  async commit(
    state: PartitionState,
    topic: string,
    partition: number,
    messages: EncodedMessage[],
    nextOffset: bigint,
  ): Promise<void> {
    const sends = splitForSend(messages);
    this.begun++;
    await this.faults?.beforeTransaction?.({ transaction: this.begun, topic, partition });
    const txn = await state.producer.transaction();
    try {
      for (const topicMessages of sends) await txn.sendBatch({ topicMessages, acks: -1 });
      await whileConcurrent(() =>
        txn.sendOffsets({
          consumerGroupId: this.group,
          topics: [{ topic, partitions: [{ partition, offset: nextOffset.toString() }] }],
        }),
      );
      this.transactions++;
      await this.faults?.beforeCommit?.({ transaction: this.transactions, topic, partition });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => {});
      throw err;
    }
    state.next = nextOffset;
  }

  private async committedOffset(topic: string, partition: number): Promise<bigint | null> {
    const [fetched] = await this.admin.fetchOffsets({ groupId: this.group, topics: [topic] });
    const offset = fetched?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
    return offset === '-1' ? null : BigInt(offset);
  }

  private async open(topic: string, partition: number): Promise<PartitionState> {
    const producer = this.kafka.producer({
      transactionalId: transactionalIdOf(this.group, topic, partition),
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 60_000,
      createPartitioner: Partitioners.DefaultPartitioner,
      // A transaction that follows a commit on the same producer often meets CONCURRENT_TRANSACTIONS
      // while the broker still writes the previous commit's markers (a few ms); kafkajs's default
      // first backoff of 300 ms would then dominate every transaction. Capped (about a minute) so
      // an unreachable broker fails the transaction, which aborts and restarts the partition,
      // instead of retrying forever and blocking a graceful stop.
      retry: { retries: 60, initialRetryTime: 10, maxRetryTime: 1_000 },
    });
    const generation = this.generation;
    try {
      await connectFenced(producer);
      // Fenced: the previous owner's transaction is over, and from Kafka 3.9.1 on (KAFKA-17507)
      // its offsets are applied before it counts as over, so one read now is the truth (README:
      // minimum broker version).
      const next = await this.committedOffset(topic, partition);
      return { producer, generation, next, lastUsed: Date.now() };
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw err;
    }
  }
}
