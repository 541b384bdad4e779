import type { Db } from 'mongodb';
import { readTopic } from '../cli/tail.ts';
import type { Config } from '../config/index.ts';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { DEFAULT_CONNECTOR_NAME } from '../connectors/dynamodb-streams/connector.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { type Clock, systemClock } from '../lib/clock.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import type { SelectionRequest, SelectionStats } from '../schemas/types.generated.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { MongoCodeStore, type PoolCounts } from '../stores/codes.ts';
import { topology } from '../topology/index.ts';
import { SelectionStore } from './store.ts';
import {
  checkPreconditions,
  connectorPastClose,
  REPLICATION_GROUPS,
  replicationLag,
  sendSelectionRequest,
} from './trigger.ts';

// What the CLI and the admin API do for selection, in one place: code counts, the stats of the
// runs (read from the compacted selection.stats topic), and a checked selection request.

export interface SelectionAdmin {
  codeCounts(campaignId: string, marketId?: string): Promise<PoolCounts[]>;
  stats(campaignId?: string): Promise<SelectionStats[]>;
  /** Throws a ValidationError naming what is missing (campaign not CLOSED, replication behind). */
  requestSelection(
    campaignId: string,
    marketId: string,
    winners: number,
    requestedBy: string,
  ): Promise<{ request: SelectionRequest; notes: string[]; seedHash: string }>;
}

export const SELECTION_TOPICS = {
  requests: 'selection.requests',
  stats: 'selection.stats',
  checkpoints: 'connector.checkpoints',
};

export function createSelectionAdmin(
  config: Readonly<Config>,
  db: Db,
  clock: Clock = systemClock,
): SelectionAdmin {
  const kafka = createKafka(config.kafka);
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  const codes = new MongoCodeStore(db);
  const selection = new SelectionStore(db);
  const campaigns = new MongoCampaignStore(db);
  const withAdmin = async <T>(fn: (admin: ReturnType<typeof kafka.admin>) => Promise<T>) => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  };
  return {
    codeCounts: (campaignId, marketId) => codes.counts(campaignId, marketId),
    stats: (campaignId) =>
      withAdmin(async (admin) => {
        const latest = new Map<string, SelectionStats>();
        await readTopic(kafka, admin, {
          topic: SELECTION_TOPICS.stats,
          startAt: (r) => r.low,
          onRecords: async (records) => {
            for (const r of records) {
              const key = r.key?.toString('utf8') ?? '';
              if (r.value === null || (campaignId && !key.startsWith(`${campaignId}|`))) continue;
              latest.set(key, (await codec.decode(r.value)) as SelectionStats);
            }
          },
        });
        return [...latest.values()];
      }),
    requestSelection: (campaignId, marketId, winners, requestedBy) =>
      withAdmin(async (admin) => {
        const campaign = await campaigns.get(campaignId);
        const closedAt = campaign?.closedAt ? new Date(campaign.closedAt) : new Date(8.64e15);
        const connector = await connectorPastClose(
          kafka,
          admin,
          codec,
          SELECTION_TOPICS.checkpoints,
          connectorIdOf(DEFAULT_CONNECTOR_NAME, config.dynamodb.demandTable),
          closedAt,
        );
        const groups = await replicationLag(admin, topology, REPLICATION_GROUPS);
        const notes = checkPreconditions(campaignId, marketId, winners, { campaign, connector, groups });
        const seed = await selection.ensureSeed(campaignId);
        await codec.register(SELECTION_TOPICS.requests, loadSchema('selection-request'));
        const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        try {
          const request = await sendSelectionRequest(
            producer,
            codec,
            SELECTION_TOPICS.requests,
            { campaignId, marketId, winners, requestedBy },
            clock,
          );
          return { request, notes, seedHash: seed.seedHash };
        } finally {
          await producer.disconnect();
        }
      }),
  };
}
