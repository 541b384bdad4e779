import { Partitioners } from 'kafkajs';
import type { Config } from '../../config/index.ts';
import {
  createDynamoDb,
  createDynamoDbStreams,
  createKafka,
  createRedis,
  createSchemaRegistry,
} from '../../lib/clients.ts';
import { Codec } from '../../runtime/codec.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { ConnectorCheckpoint } from '../../schemas/types.generated.ts';
import { DemandTable } from '../../stores/demand-table.ts';
import { connectorIdOf, restoreCheckpoints, shardCheckpointRecord, shardKeyOf } from './checkpoints.ts';
import { DEFAULT_CONNECTOR_NAME, DEFAULT_TOPICS } from './connector.ts';
import {
  acceptGaps,
  type CheckpointWrite,
  GapKind,
  planShards,
  type ShardCheckpoint,
  type ShardGap,
  type ShardPlan,
  STREAM_RETENTION_MS,
} from './shards.ts';
import { awsStreamsApi, type StreamsApi } from './streams-api.ts';

// What an operator asks of the connector without running it: where each shard stands and how
// far behind it is (`regflow connector status`), and accepting a possible loss so it can go on
// (`regflow connector reset --accept-gap`).

export interface OperatorOptions {
  config: Readonly<Config>;
  /** Default: the configured table (REGFLOW_DEMAND_TABLE). */
  table?: string;
  name?: string;
  topics?: { changes: string; checkpoints: string };
  retentionMs?: number;
  streamsApi?: StreamsApi;
}

export interface ShardStatus {
  shardId: string;
  parentShardId: string | null;
  state: 'reading' | 'waiting' | 'finished' | 'gap' | 'not started';
  closed: boolean;
  sequenceNumber: string | null;
  lastRecordAt: string | null;
  checkpointedAt: string | null;
  /** Now minus the creation time of the oldest record not yet emitted; 0 when caught up; null when unknown. */
  lagSeconds: number | null;
}

export interface ConnectorStatus {
  connectorId: string;
  table: string;
  leaseHolder: string | null;
  streamArn: string | null;
  shards: ShardStatus[];
  gaps: ShardGap[];
  snapshots: ConnectorCheckpoint[];
}

interface Context {
  connectorId: string;
  table: string;
  topics: { changes: string; checkpoints: string };
  api: StreamsApi;
  checkpoints: Map<string, ShardCheckpoint>;
  snapshots: ConnectorCheckpoint[];
  streamArn: string | null;
  plan: ShardPlan | null;
  shards: Awaited<ReturnType<StreamsApi['describeStream']>>['shards'];
  close: () => Promise<void>;
  kafka: ReturnType<typeof createKafka>;
  codec: Codec;
}

async function open(opts: OperatorOptions): Promise<Context> {
  const { config } = opts;
  const table = opts.table ?? config.dynamodb.demandTable;
  const topics = opts.topics ?? DEFAULT_TOPICS;
  const connectorId = connectorIdOf(opts.name ?? DEFAULT_CONNECTOR_NAME, table);
  const kafka = createKafka(config.kafka, { logLevel: 0 });
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  const dynamo = createDynamoDb(config.dynamodb);
  const streams = createDynamoDbStreams(config.dynamodb);
  const api = opts.streamsApi ?? awsStreamsApi(dynamo, streams);
  const admin = kafka.admin();
  await admin.connect();
  const close = async () => {
    await admin.disconnect().catch(() => {});
    dynamo.destroy();
    streams.destroy();
  };
  try {
    const restored = await restoreCheckpoints(kafka, admin, codec, topics.checkpoints, connectorId);
    const streamArn = (await api.latestStreamArn(table)) ?? null;
    const shards: Context['shards'] = [];
    if (streamArn !== null) {
      let after: string | undefined;
      do {
        const page = await api.describeStream(streamArn, after);
        shards.push(...page.shards);
        after = page.lastEvaluatedShardId;
      } while (after !== undefined);
    }
    const plan =
      streamArn === null
        ? null
        : planShards({
            streamArn,
            shards,
            checkpoints: restored.shards,
            now: Date.now(),
            retentionMs: opts.retentionMs ?? STREAM_RETENTION_MS,
          });
    // Trimming shows only when asking for an iterator after the checkpoint.
    if (plan !== null && streamArn !== null) {
      for (const r of plan.read) {
        if (r.start.type !== 'AFTER_SEQUENCE_NUMBER') continue;
        try {
          await api.getShardIterator(streamArn, r.shardId, r.start);
        } catch (err) {
          if ((err as { name?: string }).name !== 'TrimmedDataAccessException') throw err;
          plan.gaps.push({
            kind: GapKind.TRIMMED,
            streamArn,
            shardId: r.shardId,
            reason: `records of shard ${r.shardId} after ${r.start.sequenceNumber} were trimmed (TrimmedDataAccessException)`,
          });
          plan.read = plan.read.filter((x) => x.shardId !== r.shardId);
        }
      }
    }
    return {
      connectorId,
      table,
      topics,
      api,
      checkpoints: restored.shards,
      snapshots: [...restored.snapshots.values()],
      streamArn,
      plan,
      shards,
      close,
      kafka,
      codec,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

export async function connectorStatus(opts: OperatorOptions): Promise<ConnectorStatus> {
  const ctx = await open(opts);
  try {
    const redis = createRedis(opts.config.redis);
    const leaseHolder = await redis.get(`regflow:connector:${ctx.connectorId}:lease`).catch(() => null);
    await redis.quit().catch(() => {});
    const gapShards = new Set(ctx.plan?.gaps.map((g) => g.shardId));
    const reading = new Map(ctx.plan?.read.map((r) => [r.shardId, r.start]));
    const finished = new Set(ctx.plan?.finished);
    const waiting = new Set(ctx.plan?.waiting.map((w) => w.shardId));
    const now = Date.now();
    const shards: ShardStatus[] = [];
    for (const s of ctx.shards) {
      const c = ctx.checkpoints.get(s.shardId);
      const start = reading.get(s.shardId);
      let lagSeconds: number | null = null;
      if (start !== undefined && ctx.streamArn !== null) {
        // One record past the checkpoint tells how old the oldest unsent change is.
        try {
          const iterator = await ctx.api.getShardIterator(ctx.streamArn, s.shardId, start);
          const page = await ctx.api.getRecords(iterator, 1);
          const created = page.records[0]?.dynamodb?.ApproximateCreationDateTime;
          lagSeconds = created === undefined ? 0 : Math.max(0, (now - new Date(created).getTime()) / 1000);
        } catch {
          lagSeconds = null;
        }
      } else if (finished.has(s.shardId)) lagSeconds = 0;
      shards.push({
        shardId: s.shardId,
        parentShardId: s.parentShardId ?? null,
        state: gapShards.has(s.shardId)
          ? 'gap'
          : finished.has(s.shardId)
            ? 'finished'
            : waiting.has(s.shardId)
              ? 'waiting'
              : c === undefined
                ? 'not started'
                : 'reading',
        closed: s.endingSequenceNumber !== undefined,
        sequenceNumber: c?.sequenceNumber ?? null,
        lastRecordAt: iso(c?.approximateCreationTime),
        checkpointedAt: iso(c?.updatedAt),
        lagSeconds,
      });
    }
    return {
      connectorId: ctx.connectorId,
      table: ctx.table,
      leaseHolder,
      streamArn: ctx.streamArn,
      shards,
      gaps: ctx.plan?.gaps ?? [],
      snapshots: ctx.snapshots,
    };
  } finally {
    await ctx.close();
  }
}

export interface ResetReport {
  connectorId: string;
  gaps: ShardGap[];
  writes: CheckpointWrite[];
  executed: boolean;
}

/**
 * The gaps the connector would halt on, and the checkpoint writes that accept them. With
 * `acceptGap` the writes commit in one transaction under the connector's transactional id,
 * which also fences a running instance (it restarts from the new checkpoints).
 */
export async function resetConnector(
  opts: OperatorOptions & {
    acceptGap: boolean;
    /** Accept only when every gap is of these kinds (nothing is written otherwise). */
    onlyKinds?: readonly GapKind[];
  },
): Promise<ResetReport> {
  const ctx = await open(opts);
  try {
    const gaps = ctx.plan?.gaps ?? [];
    const writes = acceptGaps(gaps, ctx.checkpoints, Date.now());
    const kindsOk = opts.onlyKinds === undefined || gaps.every((g) => opts.onlyKinds?.includes(g.kind));
    if (!opts.acceptGap || writes.length === 0 || !kindsOk)
      return { connectorId: ctx.connectorId, gaps, writes, executed: false };
    await ctx.codec.register(ctx.topics.checkpoints, loadSchema('connector-checkpoint'));
    const producer = ctx.kafka.producer({
      transactionalId: ctx.connectorId,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      const txn = await producer.transaction();
      try {
        await txn.send({
          topic: ctx.topics.checkpoints,
          acks: -1,
          messages: await Promise.all(
            writes.map(async (w) => ({
              key: shardKeyOf(ctx.connectorId, w.shardId),
              value:
                w.checkpoint === null
                  ? null
                  : await ctx.codec.encode(
                      ctx.topics.checkpoints,
                      shardCheckpointRecord(ctx.connectorId, ctx.table, w.checkpoint),
                    ),
            })),
          ),
        });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => {});
        throw err;
      }
    } finally {
      await producer.disconnect().catch(() => {});
    }
    return { connectorId: ctx.connectorId, gaps, writes, executed: true };
  } finally {
    await ctx.close();
  }
}

/**
 * For a local DynamoDB (moto, which keeps everything in memory) that the calling command has just
 * started: the demand table and its stream are new, and every record of the old stream went with
 * moto's memory, so the checkpoints of that stream can only halt the connector (STREAM_CHANGED)
 * over records nobody can read any more. Creates the table if missing, and accepts exactly that gap
 * (as `regflow connector reset --accept-gap` would); says so. Any other gap is left to halt the
 * connector. Returns whether it accepted one.
 */
export async function acceptRestartedLocalStream(
  opts: OperatorOptions,
  print: (line: string) => void,
): Promise<boolean> {
  const table = opts.table ?? opts.config.dynamodb.demandTable;
  const dynamo = createDynamoDb(opts.config.dynamodb);
  try {
    await new DemandTable(dynamo, table).ensureTable();
  } finally {
    dynamo.destroy();
  }
  const done = await resetConnector({ ...opts, acceptGap: true, onlyKinds: [GapKind.STREAM_CHANGED] });
  if (!done.executed) return false;
  print(
    `connector        local DynamoDB (moto, in memory) was restarted: table ${table} has a new stream and the old one's records are gone; checkpoints of ${done.connectorId} reset (as \`regflow connector reset --accept-gap\` does)`,
  );
  return true;
}
