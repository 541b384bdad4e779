import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { Db, MongoClient } from 'mongodb';
import { defineResource } from '../runtime/resources.ts';
import { createDynamoDb, createMongo, createRedis, createS3 } from './clients.ts';
import { RetriableError } from './errors.ts';

// The clients processors declare as resources. Each is opened once per process, whoever names it,
// and checked with a cheap call before the process says it is ready. Stores build on these with
// `use(mongo)` (see stores/).

const unreachable = (what: string, err: unknown) =>
  new RetriableError(`${what} does not answer: ${(err as Error).message}`, { cause: err });

export interface MongoResource {
  client: MongoClient;
  db: Db;
}

export const mongo = defineResource<MongoResource>({
  name: 'mongodb',
  open: async ({ config }) => {
    const client = createMongo(config.mongodb);
    return { client, db: client.db(config.mongodb.database) };
  },
  check: async ({ client }) => {
    try {
      await client.connect();
      await client.db('admin').command({ ping: 1 });
    } catch (err) {
      throw unreachable('MongoDB', err);
    }
  },
  close: ({ client }) => client.close(),
});

export const dynamodb = defineResource<DynamoDBClient>({
  name: 'dynamodb',
  open: async ({ config }) => createDynamoDb(config.dynamodb),
  check: async (client) => {
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
    } catch (err) {
      throw unreachable('DynamoDB', err);
    }
  },
  close: async (client) => client.destroy(),
});

export const s3 = defineResource<S3Client>({
  name: 's3',
  open: async ({ config }) => createS3(config.s3),
  check: async (client) => {
    try {
      await client.send(new ListBucketsCommand({}));
    } catch (err) {
      throw unreachable('S3', err);
    }
  },
  close: async (client) => client.destroy(),
});

export const redis = defineResource<Redis>({
  name: 'redis',
  open: async ({ config }) => createRedis(config.redis, { lazy: true }),
  check: async (client) => {
    try {
      if (client.status === 'wait' || client.status === 'end') await client.connect();
      await client.ping();
    } catch (err) {
      throw unreachable('Redis', err);
    }
  },
  close: async (client) => {
    client.disconnect();
  },
});
