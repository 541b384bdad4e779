import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CampaignCache } from '../campaigns/cache.ts';
import { OutboxRelay } from '../campaigns/outbox-relay.ts';
import { CampaignService } from '../campaigns/service.ts';
import type { Config } from '../config/index.ts';
import { createDynamoDb, createMongo, createRedis } from '../lib/clients.ts';
import type { DataRecordsPublisher } from '../lib/data-records.ts';
import { createLogger } from '../lib/logger.ts';
import { createSelectionAdmin } from '../selection/admin.ts';
import { SelectionStore } from '../selection/store.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { DemandTable } from '../stores/demand-table.ts';
import { MongoNotificationStateStore } from '../stores/notification-state.ts';
import { buildServer } from './server.ts';

// Wires the API process: clients from config, stores (indexes ensured), the demand table (created
// with its stream if missing), the campaign cache, the campaign service, the outbox relay and the
// HTTP server. Names can be overridden so tests and benchmarks run side by side on shared services.

export interface ApiContext {
  app: FastifyInstance;
  service: CampaignService;
  cache: CampaignCache;
  store: MongoCampaignStore;
  table: DemandTable;
  relay: OutboxRelay | undefined;
  logger: Logger;
  close(): Promise<void>;
}

export interface ApiOptions {
  /** MongoDB database (default: the one in REGFLOW_MONGODB_URL). */
  database?: string;
  /** Redis key prefix (default REGFLOW_REDIS_PREFIX). */
  redisPrefix?: string;
  /** DynamoDB table (default REGFLOW_DEMAND_TABLE). */
  tableName?: string;
  /** Where the outbox relay publishes; without one no relay runs in this process. */
  publisher?: DataRecordsPublisher;
  relayIntervalMs?: number;
  logger?: Logger;
}

export async function createApi(config: Readonly<Config>, options: ApiOptions = {}): Promise<ApiContext> {
  const logger = options.logger ?? createLogger(config.logLevel, { component: 'api' });
  const mongo = createMongo(config.mongodb);
  const redis = createRedis(config.redis);
  const dynamo = createDynamoDb(config.dynamodb);
  try {
    await mongo.connect();
    const db = mongo.db(options.database ?? config.mongodb.database);
    const store = new MongoCampaignStore(db);
    await store.init();
    const reminderEmails = new MongoNotificationStateStore(db);
    await reminderEmails.init();
    const table = new DemandTable(dynamo, options.tableName ?? config.dynamodb.demandTable);
    await table.ensureTable();
    const cache = new CampaignCache(redis, store, {
      prefix: options.redisPrefix ?? config.redis.prefix,
      logger,
    });
    const seeds = new SelectionStore(db);
    const service = new CampaignService({
      store,
      cache,
      logger,
      reminderEmails,
      seedHashAtClose: async (id) => (await seeds.ensureSeed(id)).seedHash,
    });
    const relay = options.publisher
      ? new OutboxRelay({ store, publisher: options.publisher, cache, logger })
      : undefined;
    relay?.start(options.relayIntervalMs ?? 1_000);
    const app = await buildServer({
      campaigns: cache,
      entries: table,
      service,
      jwtSecret: config.api.jwtSecret,
      logger,
      selection: createSelectionAdmin(config, db),
    });
    return {
      app,
      service,
      cache,
      store,
      table,
      relay,
      logger,
      async close() {
        await relay?.stop();
        await app.close();
        redis.disconnect();
        dynamo.destroy();
        await mongo.close();
      },
    };
  } catch (err) {
    redis.disconnect();
    dynamo.destroy();
    await mongo.close().catch(() => {});
    throw err;
  }
}
