import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { PermanentError } from '../../lib/errors.ts';
import type { Codec } from '../../runtime/codec.ts';
import { connectFenced } from '../../runtime/transactions.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SchedulerTick } from '../../schemas/types.generated.ts';
import type { FiredState } from './due-ticks.ts';

// The tick log: fired ticks on `scheduler.ticks` (key = tick id), written only in Kafka
// transactions by ONE transactional id for all scheduler replicas. The same transaction commits,
// as the offset of a consumer group that nobody consumes with (`stateGroup`), the scheduler's
// state: the last fired tick of each schedule, as JSON in the offset's metadata. So a tick and
// the record that it fired become visible together or not at all.
//
// Opening the log sends InitProducerId for that transactional id: Kafka bumps the epoch, aborts
// any transaction a previous leader left open, and from then on refuses every commit of an older
// epoch (a paused or partitioned "zombie" leader). Only after that is the state read. So whatever
// the new leader reads is final, and no other replica can add a tick behind its back: a tick is
// fired once. (Kafka alone cannot "write only if absent" across independent writers; a single
// fenced writer per state can.)

const { Partitioners } = kafkajs;

export interface TickLogNames {
  topic: string;
  transactionalId: string;
  /** Consumer group whose committed offset (metadata) holds the scheduler state. */
  stateGroup: string;
}

export const DEFAULT_TICK_LOG_NAMES: TickLogNames = {
  topic: 'scheduler.ticks',
  transactionalId: 'regflow-scheduler',
  stateGroup: 'regflow-scheduler-state',
};

interface StoredState {
  v: 1;
  /** schedule → scheduledAt (UTC ISO) of its last fired tick */
  last: Record<string, string>;
}

export const encodeState = (state: FiredState): string =>
  JSON.stringify({
    v: 1,
    last: Object.fromEntries(Object.entries(state).map(([k, v]) => [k, new Date(v).toISOString()])),
  } satisfies StoredState);

export function decodeState(metadata: string | null | undefined): FiredState {
  if (!metadata) return {};
  let parsed: StoredState;
  try {
    parsed = JSON.parse(metadata) as StoredState;
  } catch (err) {
    throw new PermanentError(
      `scheduler state: the committed metadata is not JSON (${(err as Error).message})`,
    );
  }
  if (parsed?.v !== 1 || typeof parsed.last !== 'object' || parsed.last === null)
    throw new PermanentError(`scheduler state: unknown format ${JSON.stringify(metadata).slice(0, 200)}`);
  const state: FiredState = {};
  for (const [schedule, iso] of Object.entries(parsed.last)) {
    const at = new Date(iso).getTime();
    if (Number.isNaN(at))
      throw new PermanentError(`scheduler state: last.${schedule} is not an instant (${iso})`);
    state[schedule] = at;
  }
  return state;
}

export class TickLog {
  private offset: bigint;

  private constructor(
    private readonly producer: Producer,
    private readonly codec: Codec,
    private readonly names: TickLogNames,
    offset: bigint,
  ) {
    this.offset = offset;
  }

  /** Fences every earlier writer, then reads the state they committed. */
  static async open(deps: {
    kafka: Kafka;
    admin: Admin;
    codec: Codec;
    names: TickLogNames;
    logger: Logger;
  }): Promise<{ log: TickLog; state: FiredState }> {
    const { kafka, admin, codec, names } = deps;
    await codec.register(names.topic, loadSchema('scheduler-tick'));
    const producer = kafka.producer({
      transactionalId: names.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      // A leader killed mid-transaction holds back read_committed consumers until the next leader
      // fences it, or at the latest this long.
      transactionTimeout: 15_000,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 30, initialRetryTime: 10, maxRetryTime: 1_000 },
    });
    try {
      // Fence before the state is read (kafkajs's connect() alone fences nothing). Checked by
      // test/integration/schedulers.test.ts.
      await connectFenced(producer);
      const { offset, metadata } = await readState(admin, names);
      return { log: new TickLog(producer, codec, names, offset), state: decodeState(metadata) };
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw err;
    }
  }

  /** Appends the ticks and the new state in one transaction; throws when fenced or failed (aborted). */
  async append(ticks: readonly SchedulerTick[], state: FiredState): Promise<void> {
    const messages = await Promise.all(
      ticks.map(async (t) => ({ key: t.tickId, value: await this.codec.encode(this.names.topic, t) })),
    );
    const transaction = await this.producer.transaction();
    try {
      const sent = await transaction.send({ topic: this.names.topic, messages });
      const last = sent.reduce((max, m) => {
        const end = BigInt(m.baseOffset ?? '-1') + BigInt(messages.length);
        return end > max ? end : max;
      }, this.offset + BigInt(messages.length));
      await transaction.sendOffsets({
        consumerGroupId: this.names.stateGroup,
        topics: [
          {
            topic: this.names.topic,
            // kafkajs passes `metadata` through to TxnOffsetCommit; its types omit it.
            partitions: [{ partition: 0, offset: last.toString(), metadata: encodeState(state) } as never],
          },
        ],
      });
      await transaction.commit();
      this.offset = last;
    } catch (err) {
      await transaction.abort().catch(() => {});
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => {});
  }
}

/**
 * The committed state once it has settled: the classic group coordinator may apply the offsets of
 * a transaction that just completed a moment after InitProducerId returns (see the runtime's
 * transactions.ts), so read until two reads a little apart agree.
 */
/** The last fired state: final once the producer fenced (Kafka 3.9.1+ applies transactional offsets before the fence returns). */
async function readState(
  admin: Admin,
  names: TickLogNames,
): Promise<{ offset: bigint; metadata: string | null }> {
  const [fetched] = await admin.fetchOffsets({ groupId: names.stateGroup, topics: [names.topic] });
  const p = fetched?.partitions.find((x) => x.partition === 0) as
    | { offset: string; metadata?: string | null }
    | undefined;
  return { offset: BigInt(p?.offset ?? '-1'), metadata: p?.metadata ?? null };
}
