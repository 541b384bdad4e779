import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Admin } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { entryFilterProcessor } from '../processors/entry-filter/processor.ts';
import { entryReplicatorProcessor } from '../processors/entry-replicator/processor.ts';
import { userUpserterProcessor } from '../processors/user-upserter/processor.ts';
import type { AnyProcessorDefinition } from '../runtime/types.ts';
import { loadSchema } from '../schemas/index.ts';
import type { EntryChange } from '../schemas/types.generated.ts';
import { createTopic } from '../topology/admin.ts';
import { deadLetterTopicName, type ProcessorSpec, retryTopicName } from '../topology/types.ts';
import { type ConnectorSetup, createDemandTable } from './connector-harness.ts';
import { codec, kafka } from './runtime-harness.ts';
import { uniqueName } from './support.ts';

// The replication chain (connector → entry-filter → entry-replicator → user-upserter) on a table,
// topics, consumer groups and a MongoDB database of the test's own. The same specs serve the
// in-process tests, the child-process fixture (test/fixtures/replication-process.ts) and the
// replication-lag benchmark.

export const REPLICATION_PROCESSORS = ['entry-filter', 'entry-replicator', 'user-upserter'] as const;
export type ReplicationProcessor = (typeof REPLICATION_PROCESSORS)[number];

export interface ReplicationTopics {
  changes: string;
  checkpoints: string;
  replicate: string;
  rejected: string;
  users: string;
  dataRecords: string;
}

export const replicationTopics = (prefix: string): ReplicationTopics => ({
  changes: `${prefix}.demand.changes`,
  checkpoints: `${prefix}.connector.checkpoints`,
  replicate: `${prefix}.entries.replicate`,
  rejected: `${prefix}.entries.rejected`,
  users: `${prefix}.users.upserts`,
  dataRecords: `${prefix}.data.records`,
});

/** The three processors' specs on the prefix's topics, named `<prefix>-<processor>` (their group ids). */
export function replicationSpecs(
  prefix: string,
  tiers: number[],
): Record<ReplicationProcessor, ProcessorSpec> {
  const t = replicationTopics(prefix);
  const retry = { attempts: 3, initialDelayMs: 50, maxDelayMs: 500, tierDelaysMs: tiers };
  return {
    'entry-filter': {
      name: `${prefix}-entry-filter`,
      description: 'entry-filter under test',
      inputs: [t.changes],
      outputs: [t.replicate],
      retry,
    },
    'entry-replicator': {
      name: `${prefix}-entry-replicator`,
      description: 'entry-replicator under test',
      inputs: [t.replicate],
      outputs: [t.users, t.dataRecords, t.rejected],
      retry,
    },
    'user-upserter': {
      name: `${prefix}-user-upserter`,
      description: 'user-upserter under test',
      inputs: [t.users],
      outputs: [],
      retry,
    },
  };
}

export function replicationDefinitions(
  prefix: string,
  tiers: number[],
  names: readonly ReplicationProcessor[] = REPLICATION_PROCESSORS,
): AnyProcessorDefinition[] {
  const specs = replicationSpecs(prefix, tiers);
  const make: Record<ReplicationProcessor, () => AnyProcessorDefinition> = {
    'entry-filter': () => entryFilterProcessor(specs['entry-filter']),
    'entry-replicator': () => entryReplicatorProcessor(specs['entry-replicator']),
    'user-upserter': () => userUpserterProcessor(specs['user-upserter']),
  };
  return names.map((n) => make[n]());
}

export interface ReplicationSetup {
  prefix: string;
  tiers: number[];
  table: string;
  topics: ReplicationTopics;
  connector: ConnectorSetup;
  /** A MongoDB database of the setup's own, and the URL naming it. */
  db: { name: string; url: string };
}

/** A MongoDB URL naming `database` on the server of `baseUrl`. */
export function databaseUrl(baseUrl: string, database: string): string {
  const url = new URL(baseUrl.replace(/^mongodb:/, 'http:'));
  url.pathname = `/${database}`;
  return url.toString().replace(/^http:/, 'mongodb:');
}

export async function createReplicationSetup(
  admin: Admin,
  dynamo: DynamoDBClient,
  mongoUrl: string,
  opts: { partitions?: number; tiers?: number[]; prefix?: string } = {},
): Promise<ReplicationSetup> {
  const prefix = opts.prefix ?? uniqueName('repl');
  const tiers = opts.tiers ?? [1_000];
  const partitions = opts.partitions ?? 3;
  const table = `${prefix}-demand`;
  const topics = replicationTopics(prefix);
  await createDemandTable(dynamo, table);
  const specs = replicationSpecs(prefix, tiers);
  const internal = Object.values(specs).flatMap((s) => [
    ...tiers.map((_, i) => retryTopicName(s.name, i + 1)),
    deadLetterTopicName(s.name),
  ]);
  for (const topic of [
    topics.changes,
    topics.replicate,
    topics.rejected,
    topics.users,
    topics.dataRecords,
    ...internal,
  ])
    await createTopic(admin, { topic, numPartitions: partitions });
  await createTopic(admin, {
    topic: topics.checkpoints,
    numPartitions: 1,
    configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
  });
  const dbName = prefix.replace(/-/g, '_');
  return {
    prefix,
    tiers,
    table,
    topics,
    connector: {
      table,
      name: prefix,
      connectorId: connectorIdOf(prefix, table),
      changes: topics.changes,
      checkpoints: topics.checkpoints,
    },
    db: { name: dbName, url: databaseUrl(mongoUrl, dbName) },
  };
}

/** Produces entry changes straight to entries.replicate, in the order given, keyed like the filter keys them. */
export async function produceEntryChanges(topic: string, changes: EntryChange[]): Promise<void> {
  await codec.register(topic, loadSchema('entry-change'));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  try {
    for (const c of changes) {
      // One send per change: the order on the partition is the order given.
      await producer.send({
        topic,
        acks: -1,
        messages: [
          { key: `fan:${c.globalUserId}|entry#${c.campaignId}`, value: await codec.encode(topic, c) },
        ],
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Sums the dead letters of the setup's processors (a valid run has none). */
export async function deadLetters(admin: Admin, s: ReplicationSetup): Promise<number> {
  let n = 0;
  for (const spec of Object.values(replicationSpecs(s.prefix, s.tiers))) {
    const offsets = await admin.fetchTopicOffsets(deadLetterTopicName(spec.name));
    n += offsets.reduce((a, p) => a + Number(p.high) - Number(p.low), 0);
  }
  return n;
}
