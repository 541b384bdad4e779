import { CleanupPolicy, type Topology } from './types.ts';

// The pipeline's topics and processors, as data. Retry and dead-letter topics are not listed:
// they follow from each processor's retry policy (describe.ts, internalTopics).

const DAY_MS = 24 * 60 * 60 * 1000;

export const topology: Topology = {
  topics: [
    {
      name: 'sample.events',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'sample-event',
      external: true,
      description: 'sample events written by the runtime tests and the benchmark',
    },
    {
      name: 'sample.events.echoed',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'sample-event',
      description: 'the sample events, forwarded by echo',
    },
    {
      name: 'sample.events.stored',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'sample-event',
      description: 'the sample events, once written to the MongoDB reference store by sample-store',
    },
    {
      name: 'demand.changes',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'demand-change',
      description:
        'every change of a demand-table item (INSERT / MODIFY / REMOVE, old and new image), keyed PK|SK; written exactly once by the dynamodb-streams connector',
    },
    {
      name: 'connector.checkpoints',
      partitions: 1,
      cleanupPolicy: CleanupPolicy.COMPACT,
      retentionMs: -1,
      valueSchema: 'connector-checkpoint',
      description:
        "source connectors' positions (stream shards, snapshot scans), written in the same transaction as their records; keyed <connector>|<position>",
    },
    {
      name: 'entries.replicate',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'entry-change',
      description:
        "the fan's entry changes kept by entry-filter (the spec's saveEntriesQueue): typed entry, version, date.updated, recordId = stream sequence number; keyed PK|SK",
    },
    {
      name: 'entries.rejected',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 30 * DAY_MS,
      valueSchema: 'entry-rejection',
      description:
        'entry changes the entry-replicator refused because the demand-table moved on (Scenario 3), with the reason; never retried',
    },
    {
      name: 'users.upserts',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'user-profile',
      description: "fans' profiles from replicated entries (the spec's userInfoQueue), keyed by globalUserId",
    },
    {
      name: 'data.records',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'data-record',
      // Also written by campaign management and outside systems (analytics defines the envelope).
      external: true,
      description:
        "the spec's dataQueue: CAMPAIGN / MARKET / EVENT_MAPPING / REGISTRATION / REGISTERED_MARKET envelopes for analytics",
    },
  ],
  processors: [
    {
      name: 'echo',
      description:
        'reference processor: forwards each sample event; used by the runtime tests and the benchmark',
      inputs: ['sample.events'],
      outputs: ['sample.events.echoed'],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
    },
    {
      name: 'sample-store',
      description:
        'reference processor with an effect: writes each sample event to MongoDB (conditional, versioned upsert, batches of 25), then forwards it',
      inputs: ['sample.events'],
      outputs: ['sample.events.stored'],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
    },
    {
      name: 'entry-filter',
      description:
        "the spec's enqueueEntries: keeps fan-modified entry changes (or needsReplication: true) and withdrawals, as typed entry changes; skips system writes",
      inputs: ['demand.changes'],
      outputs: ['entries.replicate'],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
    },
    {
      name: 'entry-replicator',
      description:
        "the spec's saveEntries (batches of 25): validates each change against the current item, rejects stale ones, writes the entry store and scoring rows, unflags needsReplication, publishes profiles and data records",
      inputs: ['entries.replicate'],
      outputs: ['users.upserts', 'data.records', 'entries.rejected'],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2000, tierDelaysMs: [5000, 30000, 300000] },
    },
    {
      name: 'user-upserter',
      description:
        "the spec's upsertUsers: batches of 25 profiles into the user store (highest version wins)",
      inputs: ['users.upserts'],
      outputs: [],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
    },
  ],
  connectors: [
    {
      name: 'dynamodb-streams',
      description:
        'DynamoDB Streams → Kafka, exactly once: change records and shard checkpoints in one transaction (connectors/dynamodb-streams/)',
      source: 'DynamoDB Streams of demand-table',
      outputs: ['demand.changes', 'connector.checkpoints'],
    },
  ],
};
