import { describe, expect, it } from 'vitest';
import { FakeStream, fakeRecord, faults } from './fake-stream.ts';
import { GapError, ShardReader, StreamGoneError } from './shard-reader.ts';

const fastRetry = { initialDelayMs: 1, maxDelayMs: 2, attempts: 4 };

function setup(records = 5) {
  const stream = new FakeStream();
  stream.shards.push({
    shardId: 'shardId-A',
    startingSequenceNumber: '1',
    records: Array.from({ length: records }, (_, i) => fakeRecord('fan:1', `sk-${i}`)),
  });
  const events = { expired: 0, throttled: 0, retried: 0 };
  const reader = new ShardReader(stream, {
    table: 't',
    pageSize: 2,
    retry: fastRetry,
    events: {
      onIteratorExpired: () => events.expired++,
      onThrottled: () => events.throttled++,
      onRetry: () => events.retried++,
    },
  });
  return { stream, reader, events };
}

const seqs = (records: { dynamodb?: { SequenceNumber?: string } }[]) =>
  records.map((r) => r.dynamodb?.SequenceNumber);

describe('ShardReader', () => {
  it('finds the stream and pages through DescribeStream', async () => {
    const { stream, reader } = setup();
    stream.pageSize = 1;
    stream.shards.push({
      shardId: 'shardId-B',
      parentShardId: 'shardId-A',
      startingSequenceNumber: '2',
      records: [],
    });
    const info = await reader.discover();
    expect(info.streamArn).toBe(stream.streamArn);
    expect(info.shards.map((s) => s.shardId)).toEqual(['shardId-A', 'shardId-B']);
    expect(info.shards[1]?.parentShardId).toBe('shardId-A');
  });

  it('reads from TRIM_HORIZON page by page, moving on only after commit', async () => {
    const { stream, reader } = setup(5);
    await reader.discover();
    reader.assign([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
    const all = seqs(stream.shards[0]!.records);
    const first = await reader.read('shardId-A');
    expect(seqs(first.records)).toEqual(all.slice(0, 2));
    reader.commit('shardId-A', all[1]);
    expect(seqs((await reader.read('shardId-A')).records)).toEqual(all.slice(2, 4));
    // The transaction carrying records 3-4 failed: start again after the committed record 2.
    reader.rewind();
    expect(seqs((await reader.read('shardId-A')).records)).toEqual(all.slice(2, 4));
    expect(stream.calls.filter((c) => c === 'GetShardIterator')).toHaveLength(2);
  });

  it('resumes AFTER_SEQUENCE_NUMBER of the checkpoint', async () => {
    const { stream, reader } = setup(5);
    const all = seqs(stream.shards[0]!.records);
    await reader.discover();
    reader.assign([
      { shardId: 'shardId-A', start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: all[2]! } },
    ]);
    expect(seqs((await reader.read('shardId-A')).records)).toEqual(all.slice(3, 5));
  });

  it('re-acquires an expired iterator from the committed position and counts it', async () => {
    const { stream, reader, events } = setup(5);
    const all = seqs(stream.shards[0]!.records);
    await reader.discover();
    reader.assign([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
    await reader.read('shardId-A');
    reader.commit('shardId-A', all[1]);
    stream.failNext('GetRecords', faults.expired);
    expect(seqs((await reader.read('shardId-A')).records)).toEqual(all.slice(2, 4));
    expect(events.expired).toBe(1);
  });

  it('backs off on throttling and keeps the same iterator', async () => {
    const { stream, reader, events } = setup(3);
    await reader.discover();
    reader.assign([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
    stream.failNext('GetRecords', faults.throttled, 2);
    stream.failNext('GetShardIterator', faults.limit);
    expect((await reader.read('shardId-A')).records).toHaveLength(2);
    expect(events.throttled).toBe(3);
    expect(stream.calls.filter((c) => c === 'GetShardIterator')).toHaveLength(2);
  });

  it('survives a server restart: refused connections and a 500 for an iterator the server forgot', async () => {
    const { stream, reader, events } = setup(5);
    const all = seqs(stream.shards[0]!.records);
    await reader.discover();
    reader.assign([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
    await reader.read('shardId-A');
    reader.commit('shardId-A', all[1]);
    stream.forgetIterators();
    stream.failNext('GetShardIterator', faults.refused);
    expect(seqs((await reader.read('shardId-A')).records)).toEqual(all.slice(2, 4));
    expect(events.retried).toBeGreaterThanOrEqual(2);
  });

  it('reports the end of a closed shard and then forgets it', async () => {
    const { stream, reader } = setup(2);
    stream.shards[0]!.endingSequenceNumber = stream.shards[0]!.records[1]!.dynamodb!.SequenceNumber;
    await reader.discover();
    reader.assign([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
    const page = await reader.read('shardId-A');
    expect(page.ended).toBe(true);
    reader.commit('shardId-A', page.records[1]?.dynamodb?.SequenceNumber);
    expect(reader.assigned()).toEqual([]);
  });

  it('turns TrimmedDataAccessException into a gap, never a silent skip', async () => {
    const { reader } = setup(3);
    await reader.discover();
    reader.assign([{ shardId: 'shardId-A', start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '42' } }]);
    const err = await reader.read('shardId-A').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GapError);
    expect((err as GapError).gaps[0]).toMatchObject({ kind: 'TRIMMED', shardId: 'shardId-A' });
    expect((err as GapError).message).toContain('regflow connector reset --accept-gap');
  });

  it('reports a vanished stream or table so the connector describes the table again', async () => {
    const { stream, reader } = setup(3);
    await reader.discover();
    reader.assign([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
    stream.failNext('GetShardIterator', faults.notFound);
    await expect(reader.read('shardId-A')).rejects.toBeInstanceOf(StreamGoneError);
    expect(reader.streamArn).toBeUndefined();
    stream.failNext('DescribeTable', faults.notFound);
    await expect(reader.discover()).rejects.toThrow(/table t does not exist/);
    // The table came back with a new stream: every old iterator and position is dropped.
    stream.streamArn = `${stream.streamArn}-new`;
    expect((await reader.discover()).streamArn).toBe(stream.streamArn);
    expect(reader.assigned()).toEqual([]);
  });
});
