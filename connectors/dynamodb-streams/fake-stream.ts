import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { ShardDescription, StartPosition } from './shards.ts';
import type { StreamsApi } from './streams-api.ts';

// An in-memory DynamoDB stream for unit tests, shaped like the real service rather than the local
// server: shards close and split, DescribeStream pages, and faults can be scripted per call
// (expired iterators, throttling, HTTP 500, trimmed data, a vanished stream).

export interface FakeShard extends ShardDescription {
  records: _Record[];
}

type Fault = (call: string) => unknown;

export type SplitSeenBy = 'DescribeStream' | 'GetRecords';

const awsError = (name: string, status = 400) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

export const faults = {
  expired: () => awsError('ExpiredIteratorException'),
  throttled: () => awsError('ProvisionedThroughputExceededException'),
  limit: () => awsError('LimitExceededException'),
  trimmed: () => awsError('TrimmedDataAccessException'),
  notFound: () => awsError('ResourceNotFoundException'),
  serverError: () => awsError('SyntaxError', 500),
  refused: () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' }),
};

export class FakeStream implements StreamsApi {
  streamArn = 'arn:aws:dynamodb:us-east-1:1:table/t/stream/1';
  shards: FakeShard[] = [];
  /** Shards per DescribeStream page. */
  pageSize = 100;
  readonly calls: string[] = [];
  private readonly scripted: { call: string; fault: Fault }[] = [];
  private readonly iterators = new Map<string, { shardId: string; index: number }>();
  private nextIteratorId = 0;
  private readonly splits: { parentId: string; children: FakeShard[]; firstSeenBy: SplitSeenBy }[] = [];

  /**
   * Closes shard `parentId` after its last record and adds `children` (two: a split; one: a
   * rollover). DynamoDB gives no order between DescribeStream listing the parent closed and an
   * iterator of the parent running out: the split takes effect at the next call `firstSeenBy`
   * names (DescribeStream, or GetRecords on the parent), and every call after that sees it.
   */
  split(parentId: string, children: FakeShard[], firstSeenBy: SplitSeenBy): void {
    this.splits.push({ parentId, children, firstSeenBy });
  }

  private applySplits(call: SplitSeenBy, shardId?: string): void {
    for (let i = this.splits.length - 1; i >= 0; i--) {
      const split = this.splits[i]!;
      if (split.firstSeenBy !== call || (call === 'GetRecords' && split.parentId !== shardId)) continue;
      this.splits.splice(i, 1);
      const parent = this.shards.find((s) => s.shardId === split.parentId);
      if (parent === undefined) throw new Error(`no shard ${split.parentId} to split`);
      parent.endingSequenceNumber =
        parent.records.at(-1)?.dynamodb?.SequenceNumber ?? parent.startingSequenceNumber;
      this.shards.push(...split.children);
    }
  }

  /** The next `call` (DescribeTable, DescribeStream, GetShardIterator, GetRecords) throws `fault()`. */
  failNext(call: string, fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.scripted.push({ call, fault });
  }

  /** Drops every iterator handed out so far (what a server restart does). */
  forgetIterators(): void {
    this.iterators.clear();
  }

  private maybeFail(call: string): void {
    this.calls.push(call);
    const i = this.scripted.findIndex((s) => s.call === call);
    if (i >= 0) {
      const [s] = this.scripted.splice(i, 1);
      throw s!.fault(call);
    }
  }

  async latestStreamArn(): Promise<string | undefined> {
    this.maybeFail('DescribeTable');
    return this.streamArn;
  }

  async describeStream(_arn: string, exclusiveStartShardId?: string) {
    this.maybeFail('DescribeStream');
    if (exclusiveStartShardId === undefined) this.applySplits('DescribeStream');
    const from =
      exclusiveStartShardId === undefined
        ? 0
        : this.shards.findIndex((s) => s.shardId === exclusiveStartShardId) + 1;
    const page = this.shards.slice(from, from + this.pageSize);
    const more = from + this.pageSize < this.shards.length;
    return {
      shards: page.map(({ records: _r, ...s }) => s),
      lastEvaluatedShardId: more ? page[page.length - 1]?.shardId : undefined,
    };
  }

  async getShardIterator(_arn: string, shardId: string, start: StartPosition): Promise<string> {
    this.maybeFail('GetShardIterator');
    const shard = this.shards.find((s) => s.shardId === shardId);
    if (shard === undefined) throw faults.notFound();
    let index = 0;
    if (start.type === 'AFTER_SEQUENCE_NUMBER') {
      const at = shard.records.findIndex((r) => r.dynamodb?.SequenceNumber === start.sequenceNumber);
      if (at < 0) throw faults.trimmed();
      index = at + 1;
    }
    const id = `it-${this.nextIteratorId++}`;
    this.iterators.set(id, { shardId, index });
    return id;
  }

  async getRecords(iterator: string, limit: number) {
    this.maybeFail('GetRecords');
    const state = this.iterators.get(iterator);
    // Like the local server: an unknown iterator is an HTTP 500, not a typed error.
    if (state === undefined) throw faults.serverError();
    this.iterators.delete(iterator);
    this.applySplits('GetRecords', state.shardId);
    const shard = this.shards.find((s) => s.shardId === state.shardId)!;
    const records = shard.records.slice(state.index, state.index + limit);
    const index = state.index + records.length;
    if (shard.endingSequenceNumber !== undefined && index >= shard.records.length) {
      return { records, nextIterator: undefined };
    }
    const id = `it-${this.nextIteratorId++}`;
    this.iterators.set(id, { shardId: shard.shardId, index });
    return { records, nextIterator: id };
  }
}

let seq = 100000000000000000000n;

/** A stream record of item `pk|sk`, with a fresh sequence number. */
export function fakeRecord(
  pk: string,
  sk: string,
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE' = 'INSERT',
): _Record {
  seq += 10n;
  const keys = { PK: { S: pk }, SK: { S: sk } };
  return {
    eventID: `ev-${seq}`,
    eventName,
    dynamodb: {
      Keys: keys,
      ...(eventName === 'REMOVE' ? {} : { NewImage: { ...keys, n: { N: String(seq % 1000n) } } }),
      SequenceNumber: String(seq),
      ApproximateCreationDateTime: new Date(),
    },
  };
}
