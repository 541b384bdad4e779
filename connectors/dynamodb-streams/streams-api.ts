import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { ShardDescription, StartPosition } from './shards.ts';

// The five calls the connector makes, as a port: the reader is tested against an in-memory
// stream (real DynamoDB shapes: splits, closed shards, expiry, throttling), and runs on the AWS
// SDK against DynamoDB or the local moto server.

export interface StreamPage {
  shards: ShardDescription[];
  lastEvaluatedShardId: string | undefined;
}

export interface RecordsPage {
  records: _Record[];
  /** Undefined once a closed shard is read to its end. */
  nextIterator: string | undefined;
}

export interface StreamsApi {
  /** The table's current stream (DescribeTable's LatestStreamArn); undefined when streams are off. */
  latestStreamArn(table: string): Promise<string | undefined>;
  describeStream(streamArn: string, exclusiveStartShardId?: string): Promise<StreamPage>;
  getShardIterator(streamArn: string, shardId: string, start: StartPosition): Promise<string>;
  getRecords(iterator: string, limit: number): Promise<RecordsPage>;
}

export function awsStreamsApi(dynamo: DynamoDBClient, streams: DynamoDBStreamsClient): StreamsApi {
  return {
    async latestStreamArn(table) {
      const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: table }));
      return Table?.StreamSpecification?.StreamEnabled === false ? undefined : Table?.LatestStreamArn;
    },
    async describeStream(streamArn, exclusiveStartShardId) {
      const { StreamDescription } = await streams.send(
        new DescribeStreamCommand({
          StreamArn: streamArn,
          ...(exclusiveStartShardId === undefined ? {} : { ExclusiveStartShardId: exclusiveStartShardId }),
        }),
      );
      return {
        shards: (StreamDescription?.Shards ?? []).map((s) => ({
          shardId: s.ShardId ?? '',
          parentShardId: s.ParentShardId,
          startingSequenceNumber: s.SequenceNumberRange?.StartingSequenceNumber ?? '0',
          endingSequenceNumber: s.SequenceNumberRange?.EndingSequenceNumber,
        })),
        lastEvaluatedShardId: StreamDescription?.LastEvaluatedShardId,
      };
    },
    async getShardIterator(streamArn, shardId, start) {
      const { ShardIterator } = await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: start.type,
          ...(start.type === 'AFTER_SEQUENCE_NUMBER' ? { SequenceNumber: start.sequenceNumber } : {}),
        }),
      );
      if (ShardIterator === undefined) throw new Error(`GetShardIterator gave no iterator for ${shardId}`);
      return ShardIterator;
    },
    async getRecords(iterator, limit) {
      const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
      return { records: out.Records ?? [], nextIterator: out.NextShardIterator ?? undefined };
    },
  };
}
