import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoDb, createDynamoDbStreams, createS3 } from '../../lib/clients.ts';
import { config, uniqueName } from '../support.ts';

const dynamo = createDynamoDb(config.dynamodb);
const streams = createDynamoDbStreams(config.dynamodb);
const s3 = createS3(config.s3);

afterAll(() => {
  dynamo.destroy();
  streams.destroy();
  s3.destroy();
});

describe('DynamoDB API with the Streams API', () => {
  it('streams INSERT, MODIFY and REMOVE with old and new images', async () => {
    const TableName = uniqueName('smoke-demand');
    await dynamo.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [
          { AttributeName: 'PK', AttributeType: 'S' },
          { AttributeName: 'SK', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'PK', KeyType: 'HASH' },
          { AttributeName: 'SK', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    );
    const Key = { PK: { S: 'fan:1' }, SK: { S: 'asu#camp-1' } };
    await dynamo.send(new PutItemCommand({ TableName, Item: { ...Key, markets: { SS: ['LA'] } } }));
    await dynamo.send(
      new UpdateItemCommand({
        TableName,
        Key,
        UpdateExpression: 'SET markets = :m, needsReplication = :t',
        ExpressionAttributeValues: { ':m': { SS: ['LA', 'NYC'] }, ':t': { BOOL: true } },
      }),
    );
    await dynamo.send(new DeleteItemCommand({ TableName, Key }));

    const table = await dynamo.send(new DescribeTableCommand({ TableName }));
    const StreamArn = table.Table?.LatestStreamArn;
    expect(StreamArn).toBeTruthy();
    const stream = await streams.send(new DescribeStreamCommand({ StreamArn }));
    const ShardId = stream.StreamDescription?.Shards?.[0]?.ShardId;
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({ StreamArn, ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const records: _Record[] = [];
    let iterator = ShardIterator;
    for (let i = 0; i < 10 && iterator && records.length < 3; i++) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      records.push(...(page.Records ?? []));
      iterator = page.NextShardIterator;
    }

    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    const [insert, modify, remove] = records;
    expect(insert?.dynamodb?.NewImage?.markets).toEqual({ SS: ['LA'] });
    expect(insert?.dynamodb?.OldImage).toBeUndefined();
    expect(modify?.dynamodb?.OldImage?.markets).toEqual({ SS: ['LA'] });
    expect(modify?.dynamodb?.NewImage?.needsReplication).toEqual({ BOOL: true });
    expect(remove?.dynamodb?.OldImage?.PK).toEqual({ S: 'fan:1' });
    expect(remove?.dynamodb?.NewImage).toBeUndefined();
    expect(records.every((r) => r.dynamodb?.SequenceNumber)).toBe(true);
  });
});

describe('DynamoDB Streams sequence numbers', () => {
  // moto 5.2.5 numbers stream records outside any lock; infra/moto/launch.py makes it thread-safe.
  // Without it, 64 concurrent writers gave duplicate numbers (29 in 8,000 records), and a reader
  // iterating AFTER_SEQUENCE_NUMBER of a duplicate got the same record back forever.
  it('numbers the records of concurrent writes uniquely, so iteration always moves forward', async () => {
    const TableName = uniqueName('smoke-seq');
    await dynamo.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    );
    const writes = 2_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < writes) {
          const i = next++;
          await dynamo.send(
            new PutItemCommand({ TableName, Item: { PK: { S: `k${i}` }, v: { N: String(i) } } }),
          );
        }
      }),
    );
    const table = await dynamo.send(new DescribeTableCommand({ TableName }));
    const StreamArn = table.Table!.LatestStreamArn!;
    const stream = await streams.send(new DescribeStreamCommand({ StreamArn }));
    const ShardId = stream.StreamDescription!.Shards![0]!.ShardId!;
    let iterator = (
      await streams.send(
        new GetShardIteratorCommand({ StreamArn, ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    const sequenceNumbers: bigint[] = [];
    while (iterator !== undefined) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      const records = page.Records ?? [];
      if (records.length === 0) break;
      const first = BigInt(records[0]!.dynamodb!.SequenceNumber!);
      // Each page starts after the previous one ended: a repeat here is the endless loop.
      expect(first > (sequenceNumbers.at(-1) ?? -1n)).toBe(true);
      for (const r of records) sequenceNumbers.push(BigInt(r.dynamodb!.SequenceNumber!));
      iterator = page.NextShardIterator;
    }
    expect(new Set(sequenceNumbers).size).toBe(sequenceNumbers.length);
    expect(sequenceNumbers.length).toBeGreaterThanOrEqual(writes);
    expect([...sequenceNumbers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(sequenceNumbers);
  }, 120_000);

  // infra/moto/launch.py also expires iterators after 15 minutes, as DynamoDB does (moto kept every
  // iterator, and through it every deleted table, forever). An iterator it no longer holds is
  // answered as DynamoDB answers an expired one: the connector then asks for a new iterator.
  it('answers GetRecords of an iterator it does not hold with ExpiredIteratorException', async () => {
    const error = await streams
      .send(
        new GetRecordsCommand({
          ShardIterator: 'arn:aws:dynamodb:us-east-1:123456789012:table/gone/stream/2020|1|x',
        }),
      )
      .catch((e: unknown) => e as { name?: string; $metadata?: { httpStatusCode?: number } });
    expect(error).toMatchObject({ name: 'ExpiredIteratorException', $metadata: { httpStatusCode: 400 } });
  });
});

describe('S3 API', () => {
  it('puts and gets an object', async () => {
    const Bucket = uniqueName('smoke-crm');
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(
      new PutObjectCommand({ Bucket, Key: 'exports/reminders.csv', Body: 'email,code\nfan@x,ABC\n' }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'exports/reminders.csv' }));
    expect(await got.Body?.transformToString()).toBe('email,code\nfan@x,ABC\n');
  });
});
