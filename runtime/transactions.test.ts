import type { Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  MAX_SEND_BYTES,
  type OffsetReader,
  PartitionProducers,
  type ProducerFactory,
  splitForSend,
  transactionalIdOf,
} from './transactions.ts';

// PartitionProducers against fakes: which producers it opens (opening one fences the partition's
// previous owner, so it must only happen for partitions of the current assignment), and how it
// reads the committed offset.

const GROUP = 'grp';
const T = 'orders';

interface FakeProducer {
  transactionalId: string;
  connected: boolean;
  disconnected: boolean;
}

function fakes(committed: Record<number, string> = {}, offsetErrors: unknown[] = []) {
  const opened: FakeProducer[] = [];
  /** What was asked of the broker, in order. */
  const calls: string[] = [];
  let offsetReads = 0;
  /** Runs while a producer's connect() (InitProducerId) is in flight. */
  let duringConnect: (() => void) | null = null;
  const kafka: ProducerFactory = {
    producer: ((config: { transactionalId: string }) => {
      const p: FakeProducer = {
        transactionalId: config.transactionalId,
        connected: false,
        disconnected: false,
      };
      opened.push(p);
      return {
        connect: async () => {
          calls.push('connect');
          await Promise.resolve();
          duringConnect?.();
          p.connected = true;
        },
        transaction: async () => {
          calls.push('transaction'); // kafkajs sends the transactional InitProducerId here
          return {
            abort: async () => {
              calls.push('abort');
            },
            sendBatch: async () => {
              calls.push('sendBatch');
            },
            sendOffsets: async () => {
              calls.push('sendOffsets');
              const error = offsetErrors.shift();
              if (error !== undefined) throw error;
            },
            commit: async () => {
              calls.push('commit');
            },
          };
        },
        disconnect: async () => {
          p.disconnected = true;
        },
      } as unknown as Producer;
    }) as ProducerFactory['producer'],
  };
  const admin: OffsetReader = {
    fetchOffsets: (async () => {
      calls.push('fetchOffsets');
      offsetReads++;
      return [
        {
          topic: T,
          partitions: [0, 1, 2].map((partition) => ({
            partition,
            offset: committed[partition] ?? '-1',
            metadata: null,
          })),
        },
      ];
    }) as OffsetReader['fetchOffsets'],
  };
  return {
    kafka,
    admin,
    opened,
    calls,
    offsetReads: () => offsetReads,
    onConnect: (f: () => void) => {
      duringConnect = f;
    },
  };
}

describe('PartitionProducers', () => {
  it('opens no producer for a partition outside the current assignment', async () => {
    const f = fakes();
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    expect(await producers.acquire(T, 0)).toBeNull(); // before the first join nothing is ours
    producers.rebalanced({ [T]: [1] });
    expect(await producers.acquire(T, 0)).toBeNull();
    expect(await producers.acquire('other-topic', 1)).toBeNull();
    expect(f.opened).toEqual([]);
    expect(await producers.acquire(T, 1)).not.toBeNull();
    expect(f.opened.map((p) => p.transactionalId)).toEqual([transactionalIdOf(GROUP, T, 1)]);
  });

  it('reads the committed offset once, right after InitProducerId, and keeps the producer for the generation', async () => {
    const f = fakes({ 0: '42' });
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [0, 2] });
    const first = await producers.acquire(T, 0);
    expect(first).toMatchObject({ opened: true, state: { next: 42n, generation: 1 } });
    expect(f.opened[0]?.connected).toBe(true);
    expect(f.offsetReads()).toBe(1);
    expect(await producers.acquire(T, 0)).toMatchObject({ opened: false });
    expect((await producers.acquire(T, 2))?.state.next).toBeNull(); // never committed
    expect(f.opened).toHaveLength(2);
    expect(f.offsetReads()).toBe(2);
  });

  it('fences with a transactional InitProducerId (kafkajs: the first transaction()) before it reads the offset', async () => {
    // kafkajs's connect() asks only for an idempotent producer id, which fences nothing and does
    // not wait for the previous owner's transaction: the offset read must come after transaction().
    const f = fakes({ 1: '7' });
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [1] });
    expect((await producers.acquire(T, 1))?.state.next).toBe(7n);
    expect(f.calls).toEqual(['connect', 'transaction', 'abort', 'fetchOffsets']);
  });

  it('closes the producer of a revoked partition and refuses it afterwards; a kept one is reopened', async () => {
    const f = fakes();
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [0, 1] });
    await producers.acquire(T, 0);
    await producers.acquire(T, 1);
    producers.rebalanced({ [T]: [1] });
    expect(f.opened[0]?.disconnected).toBe(true);
    expect(await producers.acquire(T, 0)).toBeNull();
    const kept = await producers.acquire(T, 1);
    expect(kept).toMatchObject({ opened: true, state: { generation: 2 } });
    expect(f.opened[1]?.disconnected).toBe(true); // the generation-1 producer of partition 1
    expect(f.opened).toHaveLength(3);
  });

  it('gives up a producer whose partition was revoked while InitProducerId was in flight', async () => {
    const f = fakes();
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [0] });
    f.onConnect(() => producers.rebalanced({ [T]: [1] }));
    expect(await producers.acquire(T, 0)).toBeNull();
    expect(f.opened[0]?.disconnected).toBe(true);
    f.onConnect(() => {});
    expect(await producers.acquire(T, 0)).toBeNull();
    expect(f.opened).toHaveLength(1);
  });
});

describe('PartitionProducers.closeIdle', () => {
  it('closes the producers no batch held for the idle time; the next batch opens and fences a new one', async () => {
    const f = fakes({ 0: '5', 1: '9' });
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [0, 1] });
    await producers.acquire(T, 0);
    await producers.acquire(T, 1);
    const t0 = Date.now();
    producers.hold(T, 1);
    producers.release(T, 1, t0 + 50_000); // partition 1 was used 50 s later than partition 0
    expect(producers.closeIdle(60_000, t0 + 59_000)).toBe(0);
    expect(producers.closeIdle(60_000, t0 + 61_000)).toBe(1);
    expect(f.opened.map((p) => p.disconnected)).toEqual([true, false]);
    expect(producers.size).toBe(1);
    const reopened = await producers.acquire(T, 0);
    expect(reopened).toMatchObject({ opened: true, state: { next: 5n } });
    expect(f.calls.slice(-4)).toEqual(['connect', 'transaction', 'abort', 'fetchOffsets']);
  });

  it('never closes the producer of a partition whose batch is in hand, however long it runs', async () => {
    const f = fakes();
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [0] });
    producers.hold(T, 0);
    await producers.acquire(T, 0);
    const later = Date.now() + 10 * 60_000;
    expect(producers.closeIdle(60_000, later)).toBe(0);
    producers.release(T, 0, later);
    expect(producers.closeIdle(60_000, later + 1_000)).toBe(0);
    expect(producers.closeIdle(60_000, later + 60_000)).toBe(1);
    expect(f.opened[0]?.disconnected).toBe(true);
  });
});

describe('splitForSend', () => {
  const message = (topic: string, bytes: number, n: number) => ({
    topic,
    key: `k${n}`,
    value: Buffer.alloc(bytes),
    headers: {},
  });

  it('keeps a small transaction in one send, grouped by topic in order', () => {
    const sends = splitForSend([message('a', 10, 1), message('b', 10, 2), message('a', 10, 3)]);
    expect(sends).toHaveLength(1);
    expect(sends[0]?.map((t) => [t.topic, t.messages.map((m) => m.key)])).toEqual([
      ['a', ['k1', 'k3']],
      ['b', ['k2']],
    ]);
  });

  it('cuts a large transaction into sends under the limit, keeping every record once and in order', () => {
    const messages = Array.from({ length: 2_000 }, (_, i) => message('out', 1_000, i));
    const sends = splitForSend(messages);
    expect(sends.length).toBeGreaterThanOrEqual(4);
    for (const send of sends) {
      const bytes = send.flatMap((t) => t.messages).reduce((n, m) => n + (m.value as Buffer).length, 0);
      expect(bytes).toBeLessThanOrEqual(MAX_SEND_BYTES);
    }
    expect(sends.flatMap((s) => s.flatMap((t) => t.messages.map((m) => m.key)))).toEqual(
      messages.map((m) => m.key),
    );
  });

  it('retries AddOffsetsToTxn refused with CONCURRENT_TRANSACTIONS (kafkajs does not) and commits', async () => {
    // The previous commit's markers are still being written: the coordinator answers
    // CONCURRENT_TRANSACTIONS, which kafkajs passes up from sendOffsets of a transaction with no sends.
    const concurrent = Object.assign(new Error('another concurrent operation'), {
      type: 'CONCURRENT_TRANSACTIONS',
    });
    const f = fakes({}, [concurrent, concurrent]);
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [0] });
    const acquired = await producers.acquire(T, 0);
    await producers.commit(acquired!.state, T, 0, [], 5n);
    expect(f.calls.slice(4)).toEqual(['transaction', 'sendOffsets', 'sendOffsets', 'sendOffsets', 'commit']);
    expect(acquired!.state.next).toBe(5n);
  });

  it('aborts on any other sendOffsets error, without retrying it', async () => {
    const fenced = Object.assign(new Error('fenced'), { type: 'INVALID_PRODUCER_EPOCH' });
    const f = fakes({}, [fenced]);
    const producers = new PartitionProducers(f.kafka, f.admin, GROUP);
    producers.rebalanced({ [T]: [0] });
    const acquired = await producers.acquire(T, 0);
    await expect(producers.commit(acquired!.state, T, 0, [], 5n)).rejects.toThrow('fenced');
    expect(f.calls.slice(4)).toEqual(['transaction', 'sendOffsets', 'abort']);
  });
});
