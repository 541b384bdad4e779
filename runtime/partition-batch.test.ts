import { describe, expect, it } from 'vitest';
import { Header } from './headers.ts';
import {
  type BatchView,
  handlePartitionBatch,
  type PartitionIO,
  type PartitionWork,
} from './partition-batch.ts';
import { createRecordProcessor, type EncodedMessage, type RecordOutcome } from './process-record.ts';
import { MAX_RECORD_BYTES } from './transactions.ts';

// The per-partition rules without a broker: a fake partition I/O records what the loop asks of it.

function fakeIO(next: bigint | null, opts: { failCommit?: number; activeFor?: number } = {}) {
  const calls: string[] = [];
  const commits: { messages: EncodedMessage[]; nextOffset: bigint }[] = [];
  let commitCount = 0;
  let activeChecks = 0;
  const io: PartitionIO = {
    acquire: async () => ({ next }),
    commit: async (messages, nextOffset) => {
      commitCount++;
      if (commitCount === opts.failCommit) throw new Error('fenced');
      commits.push({ messages, nextOffset });
    },
    drop: async () => {
      calls.push('drop');
    },
    seek: (offset) => calls.push(`seek ${offset}`),
    resolveOffset: (offset) => calls.push(`resolve ${offset}`),
    heartbeat: async () => {},
    active: () => opts.activeFor === undefined || activeChecks++ < opts.activeFor,
    pauseUntil: (ms) => calls.push(`pause ${ms}`),
  };
  return { io, calls, commits };
}

const batch = (offsets: number[], extra: Partial<BatchView> = {}, headers = {}): BatchView => ({
  topic: 'in',
  partition: 0,
  fetchedOffset: String(offsets[0] ?? 0),
  lastOffset: String(offsets[offsets.length - 1] ?? 0),
  messages: offsets.map((o) => ({
    offset: String(o),
    timestamp: '0',
    key: Buffer.from(`k${o}`),
    value: Buffer.from(String(o)),
    headers,
  })),
  ...extra,
});

function work(overrides: Partial<PartitionWork> = {}) {
  const seen: string[][] = [];
  const w: PartitionWork = {
    tier: 0,
    chunkSize: 3,
    unitSize: 1,
    process: async (records): Promise<RecordOutcome[]> => {
      seen.push(records.map((r) => r.offset));
      return records.map((r) => ({
        ok: true,
        attempts: 1,
        messages: [{ topic: 'out', key: r.key, value: r.value, headers: {} }],
      }));
    },
    telemetry: { failed() {}, committed() {}, aborted() {} },
    now: () => 1_000,
    ...overrides,
  };
  return { w, seen };
}

describe('handlePartitionBatch', () => {
  it('commits each chunk with its outputs and the offset after its last record', async () => {
    const { io, calls, commits } = fakeIO(null);
    const { w } = work();
    await handlePartitionBatch(batch([0, 1, 2, 3, 4]), io, w);
    expect(commits.map((c) => [c.messages.length, c.nextOffset])).toEqual([
      [3, 3n],
      [2, 5n],
    ]);
    expect(calls).toEqual(['resolve 2', 'resolve 4']);
  });

  it('skips records below the committed offset, and commits past trailing markers at the batch end', async () => {
    const { io, commits } = fakeIO(2n);
    const { w, seen } = work({ chunkSize: 10 });
    await handlePartitionBatch(batch([0, 1, 2, 3], { fetchedOffset: '0', lastOffset: '5' }), io, w);
    expect(seen.flat()).toEqual(['2', '3']);
    expect(commits[0]?.nextOffset).toBe(6n);
  });

  it('seeks back when the fetch started past the committed offset (an aborted transaction)', async () => {
    const { io, calls, commits } = fakeIO(3n);
    const { w, seen } = work();
    await handlePartitionBatch(batch([7, 8], { fetchedOffset: '7' }), io, w);
    expect(calls).toEqual(['seek 3']);
    expect(seen).toEqual([]);
    expect(commits).toEqual([]);
  });

  it('leaves a batch alone when the partition is not in the current assignment', async () => {
    const { io, calls, commits } = fakeIO(null);
    io.acquire = async () => null;
    const { w, seen } = work();
    await handlePartitionBatch(batch([0, 1]), io, w);
    expect([calls, seen, commits]).toEqual([[], [], []]);
  });

  it('only resolves a batch that holds nothing new', async () => {
    const { io, calls, commits } = fakeIO(10n);
    await handlePartitionBatch(batch([4, 5], { fetchedOffset: '4', lastOffset: '6' }), io, work().w);
    expect(calls).toEqual(['resolve 6']);
    expect(commits).toEqual([]);
  });

  it('drops the producer and seeks back to the last committed offset when a commit fails', async () => {
    const { io, calls, commits } = fakeIO(null, { failCommit: 2 });
    await handlePartitionBatch(batch([0, 1, 2, 3, 4, 5]), io, work().w);
    expect(commits.map((c) => c.nextOffset)).toEqual([3n]);
    expect(calls).toEqual(['resolve 2', 'drop', 'seek 3']);
  });

  it('hands a batch handler records by its batch size', async () => {
    const { io } = fakeIO(null);
    const { w, seen } = work({ chunkSize: 10, unitSize: 4 });
    await handlePartitionBatch(batch([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), io, w);
    expect(seen).toEqual([
      ['0', '1', '2', '3'],
      ['4', '5', '6', '7'],
      ['8', '9'],
    ]);
  });

  it('sends failed records to where their failure routes them, in the same transaction', async () => {
    const { io, commits } = fakeIO(null);
    const failedOutcomes: string[] = [];
    const { w } = work({
      process: async (records) =>
        records.map((r) =>
          r.offset === '1'
            ? {
                ok: false as const,
                attempts: 3,
                error: new Error('boom'),
                failure: {
                  kind: 'dead-letter' as const,
                  topic: 'p.dlt',
                  key: r.key,
                  value: r.value,
                  headers: {},
                },
              }
            : {
                ok: true as const,
                attempts: 1,
                messages: [{ topic: 'out', key: r.key, value: r.value, headers: {} }],
              },
        ),
      telemetry: { failed: (_o, r) => failedOutcomes.push(r.offset), committed() {}, aborted() {} },
    });
    await handlePartitionBatch(batch([0, 1, 2]), io, w);
    expect(commits[0]?.messages.map((m) => m.topic)).toEqual(['out', 'p.dlt', 'out']);
    expect(failedOutcomes).toEqual(['1']);
  });

  it('in a retry tier, handles what is due, commits it, and pauses until the next record is due', async () => {
    const { io, calls, commits } = fakeIO(null);
    const due = (ms: number) => ({ [Header.BACKOFF_TIMESTAMP]: String(ms) });
    const b = batch([0, 1, 2]);
    const messages = b.messages.map((m, i) => ({ ...m, headers: due(i === 0 ? 500 : 5_000) }));
    const { w, seen } = work({ tier: 1, now: () => 1_000 });
    await handlePartitionBatch({ ...b, messages }, io, w);
    expect(seen.flat()).toEqual(['0']);
    expect(commits.map((c) => c.nextOffset)).toEqual([1n]);
    expect(calls).toEqual(['resolve 0', 'pause 5000']);
  });

  it('cuts a chunk into several transactions once its outputs pass maxChunkBytes (at least one record each)', async () => {
    // Each output is 3 bytes (key `k<n>`, value `<n>`).
    const { io, calls, commits } = fakeIO(null);
    const { w, seen } = work({ chunkSize: 10, maxChunkBytes: 5 });
    await handlePartitionBatch(batch([0, 1, 2, 3, 4]), io, w);
    expect(seen.flat()).toEqual(['0', '1', '2', '3', '4']);
    expect(commits.map((c) => [c.messages.length, c.nextOffset])).toEqual([
      [2, 2n],
      [2, 4n],
      [1, 5n],
    ]);
    expect(calls).toEqual(['resolve 1', 'resolve 3', 'resolve 4']);
    const one = fakeIO(null);
    await handlePartitionBatch(batch([0, 1, 2]), one.io, work({ chunkSize: 10, maxChunkBytes: 1 }).w);
    expect(one.commits.map((c) => c.nextOffset)).toEqual([1n, 2n, 3n]);
  });

  it('stops handling when the partition is no longer active, committing what it handled', async () => {
    const { io, commits } = fakeIO(null, { activeFor: 3 });
    const { w, seen } = work({ chunkSize: 10 });
    await handlePartitionBatch(batch([0, 1, 2, 3, 4]), io, w);
    expect(seen.flat()).toEqual(['0', '1']);
    expect(commits.map((c) => c.nextOffset)).toEqual([2n]);
  });

  it('commits a chunk with one oversize output as a dead letter of its input, instead of aborting it forever', async () => {
    const { io, calls, commits } = fakeIO(null);
    const process = createRecordProcessor({
      spec: {
        name: 'echo',
        description: '',
        inputs: ['in'],
        outputs: ['out'],
        retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2, tierDelaysMs: [1_000] },
      },
      codec: { decode: async (b) => b?.toString() ?? null, encode: async (_t, v) => Buffer.from(String(v)) },
      // Record 1's output is larger than a Kafka record may be; the others are small.
      handler: (r) => [
        { topic: 'out', key: r.key, value: r.offset === '1' ? 'z'.repeat(MAX_RECORD_BYTES) : r.value },
      ],
      now: () => 1_000,
    });
    const failed: string[] = [];
    const { w } = work({
      process: async (records) =>
        Promise.all(
          records.map((r) => process(r, { processor: 'echo', log: { info() {}, warn() {} }, resources: {} })),
        ),
      telemetry: {
        failed: (o, r) => failed.push(`${r.offset} ${o.failure.kind}`),
        committed() {},
        aborted() {},
      },
    });
    await handlePartitionBatch(batch([0, 1, 2]), io, w);
    expect(calls).not.toContain('drop');
    expect(commits).toHaveLength(1);
    expect(commits[0]!.nextOffset).toBe(3n);
    expect(commits[0]!.messages.map((m) => [m.topic, m.value?.length])).toEqual([
      ['out', 1],
      ['echo.dlt', 1],
      ['out', 1],
    ]);
    expect(commits[0]!.messages[1]!.headers[Header.EXCEPTION_MESSAGE]).toMatch(
      /^output to out is \d+ bytes, over the \d+ one Kafka record may have .*; input in\/0@1$/,
    );
    expect(failed).toEqual(['1 dead-letter']);
  });
});
