import { CleanupPolicy, type ProcessorSpec, type Topology } from './types.ts';

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
      name: 'data.records',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'data-record',
      // Campaign management and replication write it once they land; outside systems and
      // `regflow publish-data` write it today.
      external: true,
      description:
        'analytics envelopes (type, JSON data, occurredAt, source, sourceRecordId) from every producer, keyed by entity',
    },
    ...(
      [
        ['campaign', 'analytics-campaign', 'CAMPAIGN records, keyed by campaign id'],
        [
          'event-mapping',
          'analytics-event-mapping',
          'EVENT_MAPPING records, keyed by campaignId:marketId:eventId',
        ],
        ['market', 'analytics-market', 'MARKET records, keyed by campaignId:marketId'],
        [
          'registered-market',
          'analytics-registered-market',
          'REGISTERED_MARKET records, keyed by campaignId:marketId:globalUserId',
        ],
        ['registration', 'analytics-registration', 'REGISTRATION records, keyed by campaignId:globalUserId'],
      ] as const
    ).map(([name, valueSchema, what]) => ({
      name,
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 30 * DAY_MS,
      valueSchema,
      description: `analytics: validated ${what}, with a dedup id (recordId, header regflow-dedup-id)`,
    })),
    {
      name: 'data.records.rejected',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 30 * DAY_MS,
      valueSchema: 'data-record',
      description:
        'data.records envelopes the analytics-router refused (unknown type, empty or malformed payload, schema violation), reason in headers',
    },
    {
      name: 'notifications.requests',
      partitions: 6,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'notification-request',
      description:
        'markets whose presale reminders are due (markets-to-notify, every 5 minutes), keyed <campaignId>:<marketId>, requestId deterministic per planned notification',
    },
    {
      name: 'exports.requests',
      partitions: 3,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 7 * DAY_MS,
      valueSchema: 'export-request',
      description:
        'email reminder exports that are due (reminder-emails, every 15 minutes), keyed by campaignId, exportId = <campaignId>@<dueAt>',
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
      name: 'selection.requests',
      partitions: 3,
      cleanupPolicy: CleanupPolicy.DELETE,
      retentionMs: 30 * DAY_MS,
      valueSchema: 'selection-request',
      external: true,
      description:
        "requests to draw winners in a market (regflow select / admin API), keyed campaign|market, with a run id (the idempotency key); also the planner's page records of a run's losers",
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
      effects: [],
    },
    {
      name: 'sample-store',
      description:
        'reference processor with an effect: writes each sample event to MongoDB (conditional, versioned upsert, batches of 25), then forwards it',
      inputs: ['sample.events'],
      outputs: ['sample.events.stored'],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
      effects: ['MongoDB `sample_events`: conditional upsert per key, highest version wins'],
    },
    {
      name: 'analytics-router',
      description:
        "the spec's processData + sendData: validates each data.records envelope, formats it for its type and publishes it with a dedup id, or rejects it with the reason",
      inputs: ['data.records'],
      outputs: [
        'campaign',
        'event-mapping',
        'market',
        'registered-market',
        'registration',
        'data.records.rejected',
      ],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
      effects: [],
    },
    {
      name: 'scheduler-jobs',
      description:
        'the jobs of the scheduler ticks: plan-sends (writes date.notification), markets-to-notify (requests per due market, cleanup of past presales), reminder-emails (export requests)',
      inputs: ['scheduler.ticks'],
      outputs: ['notifications.requests', 'exports.requests'],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 5000, tierDelaysMs: [60000] },
      effects: [
        'MongoDB `market_notifications`: `date.notification` set once (plan-sends), unset after the poll (markets-to-notify)',
      ],
    },
    {
      name: 'notification-generator',
      description:
        "writes a market's localized reminder records to the demand table (25 per BatchWriteItem), then sets date.notified; a total failure opens a PagerDuty incident",
      inputs: ['notifications.requests'],
      outputs: [],
      retry: { attempts: 3, initialDelayMs: 500, maxDelayMs: 10000, tierDelaysMs: [60000] },
      effects: [
        'DynamoDB demand-table: reminder items `asu#…#reminder`, 25 per BatchWriteItem',
        'MongoDB `market_notifications`: `date.notified` set once',
        'PagerDuty: one incident (dedup key) when every record fails',
      ],
    },
    {
      name: 'export-writer',
      description:
        "writes a campaign's email reminder CSV to the CRM bucket (S3, deterministic key and content), then removes the handled date.sendReminderEmails",
      inputs: ['exports.requests'],
      outputs: [],
      retry: { attempts: 3, initialDelayMs: 500, maxDelayMs: 10000, tierDelaysMs: [60000, 300000] },
      effects: [
        'S3 CRM bucket: the CSV at its deterministic key, uploaded only if absent',
        'MongoDB `campaign_reminder_emails`: the handled date moved to `date.triggeredEmailReminders`',
      ],
    },
    {
      name: 'entry-filter',
      description:
        "the spec's enqueueEntries: keeps fan-modified entry changes (or needsReplication: true) and withdrawals, as typed entry changes; skips system writes",
      inputs: ['demand.changes'],
      outputs: ['entries.replicate'],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
      effects: [],
    },
    {
      name: 'entry-replicator',
      description:
        "the spec's saveEntries (batches of 25): validates each change against the current item, rejects stale ones, writes the entry store and scoring rows, unflags needsReplication, publishes profiles and data records",
      inputs: ['entries.replicate'],
      outputs: ['users.upserts', 'data.records', 'entries.rejected'],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2000, tierDelaysMs: [5000, 30000, 300000] },
      effects: [
        'MongoDB `entries`, `scoring_rows`, `scoring_fans`: writes only over a lower version',
        'DynamoDB demand-table: `needsReplication` unflagged (conditional UpdateItem)',
      ],
    },
    {
      name: 'user-upserter',
      description:
        "the spec's upsertUsers: batches of 25 profiles into the user store (highest version wins)",
      inputs: ['users.upserts'],
      outputs: [],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
      effects: ['MongoDB `users`: highest version wins'],
    },
    {
      name: 'selection-planner',
      description:
        "the spec's enqueueMarketSelections: ranks a market's unassigned scoring rows (score, then HMAC of the campaign seed), reserves codes, emits the winners, then the losers in pages (page records back on selection.requests, handled in later transactions) and run stats",
      inputs: ['selection.requests'],
      outputs: ['selection.results', 'selection.stats', 'selection.requests'],
      // Its pages of a run's losers: written once by the request's transaction, each handled once.
      continuations: ['selection.requests'],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 5000, tierDelaysMs: [30000] },
      effects: [
        'MongoDB `code_claims`, `codes`: codes reserved per run id (surplus released)',
        'MongoDB `selection_runs`: run state',
      ],
    },
    {
      name: 'selection-saver',
      description:
        "the spec's saveSelections: records verdicts and codes in the entry store (scoring rows) and DynamoDB with conditional writes, emits verdict counts",
      inputs: ['selection.results'],
      outputs: ['verdicts.counts'],
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 5000, tierDelaysMs: [5000, 30000] },
      effects: [
        'MongoDB `scoring_rows`: verdict and code (conditional)',
        'DynamoDB demand-table: `selection#<market>` verdict on the entry item (conditional)',
      ],
    },
    {
      name: 'code-marker',
      description:
        "the spec's markAssignedCodes: when a winner's verdict and code land in DynamoDB (demand.changes), marks the code assigned in the code store",
      inputs: ['demand.changes'],
      outputs: [],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000, 30000] },
      effects: ['MongoDB `codes`: code marked assigned to the fan (idempotent)'],
    },
    {
      name: 'verdict-reporter',
      description: 'aggregates verdict counts per campaign / market / run into the selection stats',
      inputs: ['verdicts.counts'],
      outputs: ['selection.stats'],
      retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 2000, tierDelaysMs: [5000] },
      effects: ['MongoDB `verdict_counts`: one count per result batch (overwrites itself)'],
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

/** The topology's processor of this name; throws when there is none (a wiring bug, found at start). */
export function processorSpec(name: string): ProcessorSpec {
  const spec = topology.processors.find((p) => p.name === name);
  if (!spec) throw new Error(`processor ${name} is not in the topology`);
  return spec;
}
