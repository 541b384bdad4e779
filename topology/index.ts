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
      name: 'scheduler.ticks',
      partitions: 1,
      cleanupPolicy: CleanupPolicy.COMPACT,
      retentionMs: -1,
      valueSchema: 'scheduler-tick',
      external: true,
      description:
        'every fired scheduler tick, keyed by tick id (audit trail and job trigger); written by the schedulers (connectors/schedulers), exactly once',
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
      name: 'selection.requests',
      partitions: 3,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 30 * DAY_MS,
      valueSchema: 'selection-request',
      external: true,
      description:
        'requests to draw winners in a market (regflow select / admin API), keyed campaign|market, with a run id (the idempotency key)',
    },
    {
      name: 'selection.results',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 30 * DAY_MS,
      valueSchema: 'selection-result',
      description:
        "batches of a run's verdicts: winners with their code, losers without (the spec's saveSelectionQueue)",
    },
    {
      name: 'selection.stats',
      partitions: 1,
      cleanupPolicy: CleanupPolicy.COMPACT,
      retentionMs: -1,
      valueSchema: 'selection-stats',
      description:
        'campaign stats per selection run (PROCESSING / FINISHED / FAILED, TOTAL, PROCESSED, FAILED, seed hash and revealed seed) and verdict counts',
    },
    {
      name: 'verdicts.counts',
      partitions: 3,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 30 * DAY_MS,
      valueSchema: 'verdict-count',
      description: "verdicts written per result batch (the spec's verdictReporterQueue)",
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
      name: 'selection-planner',
      description:
        "the spec's enqueueMarketSelections: ranks a market's unassigned scoring rows (score, then HMAC of the campaign seed), reserves codes, emits result batches and run stats",
      inputs: ['selection.requests'],
      outputs: ['selection.results', 'selection.stats'],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 5000, tierDelaysMs: [30000] },
    },
    {
      name: 'selection-saver',
      description:
        "the spec's saveSelections: records verdicts and codes in the entry store (scoring rows) and DynamoDB with conditional writes, emits verdict counts",
      inputs: ['selection.results'],
      outputs: ['verdicts.counts'],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 5000, tierDelaysMs: [5000, 30000] },
    },
    {
      name: 'code-marker',
      description:
        "the spec's markAssignedCodes: when a winner's verdict and code land in DynamoDB (demand.changes), marks the code assigned in the code store",
      inputs: ['demand.changes'],
      outputs: [],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
    },
    {
      name: 'verdict-reporter',
      description: 'aggregates verdict counts per campaign / market / run into the selection stats',
      inputs: ['verdicts.counts'],
      outputs: ['selection.stats'],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000] },
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
