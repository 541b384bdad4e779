import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { S3Client } from '@aws-sdk/client-s3';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Redis } from 'ioredis';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { createLogger, kafkaLogCreator } from './logger.ts';

// Client factories: one place that turns config slices into connected-service clients, used by
// the pipeline, the infra health checks and the tests alike.

// The SDK warns on every start that releases after January 2027 will need Node 22; the lockfile
// pins releases that support Node 20 (README: supported Node versions), so the warning is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// regflow always sets its partitioner explicitly; kafkajs's v2 migration notice is noise.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const localCredentials = () =>
  process.env.AWS_ACCESS_KEY_ID ? undefined : { accessKeyId: 'regflow', secretAccessKey: 'regflow' };

/** Tools and tests log kafkajs through the same mapping as the processors (routine conditions are not errors). */
let toolLogger: Logger | undefined;

export function createKafka(cfg: Config['kafka'], overrides: Partial<KafkaConfig> = {}): Kafka {
  toolLogger ??= createLogger(process.env.REGFLOW_LOG_LEVEL ?? 'warn');
  return new Kafka({
    clientId: cfg.clientId,
    brokers: [...cfg.brokers],
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(toolLogger),
    connectionTimeout: 3_000,
    ...overrides,
  });
}

export function createSchemaRegistry(cfg: Config['schemaRegistry']): SchemaRegistry {
  return new SchemaRegistry({ host: cfg.url });
}

/**
 * The DynamoDB clients' HTTP handler. Without a request timeout the SDK waits forever for an
 * endpoint that accepted the connection and never answers; with one (thrown, not only warned, and
 * the socket's silence bounded the same) the call fails with a TimeoutError, which isRetriable
 * (lib/errors.ts) classifies as retriable.
 */
const dynamoDbHttpHandler = (cfg: Config['dynamodb']) =>
  new NodeHttpHandler({
    connectionTimeout: cfg.connectTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    socketTimeout: cfg.requestTimeoutMs,
    throwOnRequestTimeout: true,
  });

export function createDynamoDb(cfg: Config['dynamodb']): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: cfg.endpoint,
    region: cfg.region,
    credentials: localCredentials(),
    maxAttempts: 1,
    requestHandler: dynamoDbHttpHandler(cfg),
  });
}

export function createDynamoDbStreams(cfg: Config['dynamodb']): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient({
    endpoint: cfg.endpoint,
    region: cfg.region,
    credentials: localCredentials(),
    maxAttempts: 1,
    requestHandler: dynamoDbHttpHandler(cfg),
  });
}

export function createS3(cfg: Config['s3']): S3Client {
  return new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    credentials: localCredentials(),
    forcePathStyle: true,
    maxAttempts: 1,
  });
}

/**
 * Timeouts: a server that stops answering fails the operation (MongoNetworkTimeoutError /
 * MongoServerSelectionError, both retriable) instead of hanging it. A pooled connection idle for a
 * minute is closed: after a burst (13 processors writing at once open up to the pool's 100) the
 * process and the server would otherwise keep them all for good.
 */
export function createMongo(cfg: Config['mongodb']): MongoClient {
  return new MongoClient(cfg.url, {
    serverSelectionTimeoutMS: cfg.serverSelectionTimeoutMs,
    connectTimeoutMS: 3_000,
    socketTimeoutMS: cfg.socketTimeoutMs,
    maxIdleTimeMS: 60_000,
  });
}

export function createRedis(cfg: Config['redis'], options: { lazy?: boolean } = {}): Redis {
  const client = new Redis(cfg.url, {
    lazyConnect: options.lazy ?? false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: !options.lazy,
    connectTimeout: 3_000,
    // A command without a reply in time fails ("Command timed out", retriable) instead of hanging.
    commandTimeout: cfg.commandTimeoutMs,
  });
  // Without a listener ioredis prints every reconnect failure as "Unhandled error event";
  // callers see failures through their commands' rejections.
  client.on('error', () => {});
  return client;
}
