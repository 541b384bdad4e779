import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka, Message, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import {
  createDynamoDb,
  createDynamoDbStreams,
  createKafka,
  createRedis,
  createSchemaRegistry,
} from '../../lib/clients.ts';
import { describeError, InfraError } from '../../lib/errors.ts';
import { RedisLease } from '../../lib/lease.ts';
import { createLogger, kafkaLogCreator } from '../../lib/logger.ts';
import { Codec } from '../../runtime/codec.ts';
import { startHttp } from '../../runtime/http.ts';
import { connectFenced } from '../../runtime/transactions.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { ConnectorCheckpoint } from '../../schemas/types.generated.ts';
import { type ChangeMessage, changeFromStreamRecord } from './change-record.ts';
import { connectorIdOf, restoreCheckpoints, shardCheckpointRecord, shardKeyOf } from './checkpoints.ts';
import { type ConnectorMetrics, createConnectorMetrics } from './metrics.ts';
import { GapError, ShardReader, StreamGoneError } from './shard-reader.ts';
import {
  finishedUnmarked,
  planShards,
  prunableCheckpoints,
  type ShardCheckpoint,
  STREAM_RETENTION_MS,
} from './shards.ts';
import { awsStreamsApi, type StreamsApi } from './streams-api.ts';

// The DynamoDB Streams → Kafka connector. One leader per (connector name, table), chosen by a
// Redis lease; it writes every change record to `demand.changes` and its shard checkpoints to
// the compacted `connector.checkpoints` in ONE Kafka transaction (Kafka Connect's exactly-once
// source design), with a fixed transactional id `<name>-<table>`: a new leader's InitProducerId
// fences any previous one and resolves its open transaction before the checkpoints are read.

export const DEFAULT_CONNECTOR_NAME = 'dynamodb-streams';
export const DEFAULT_TOPICS = { changes: 'demand.changes', checkpoints: 'connector.checkpoints' } as const;
/** How often, at most, an idle shard's checkpoint time moves on (ConnectorOptions.idleRefreshMs). */
export const DEFAULT_IDLE_REFRESH_MS = 2_000;

export interface ConnectorOptions {
  config: Readonly<Config>;
  /** The table whose stream is read; default the configured one (REGFLOW_DEMAND_TABLE). */
  table?: string;
  name?: string;
  topics?: { changes: string; checkpoints: string };
  logger?: Logger;
  /** Lease time-to-live: how long a standby waits after the leader vanished. */
  leaseTtlMs?: number;
  /** Wait between GetRecords rounds when the stream had nothing new (DynamoDB: at most 5 calls/s per shard). */
  pollIntervalMs?: number;
  /** DescribeStream this often to find new shards (and at once when a shard ends). */
  describeIntervalMs?: number;
  /** Rewrite the checkpoints this often when nothing else was committed (liveness for the retention check). */
  checkpointRefreshMs?: number;
  /**
   * A shard read to its current end (GetRecords: nothing new) has its checkpoint's time moved to
   * that read at most this often, so `regflow select` sees promptly that the connector read past a
   * close (selection/trigger.ts connectorPastClose).
   */
  idleRefreshMs?: number;
  /** How long a halted connector waits before looking again whether the gap was accepted. */
  haltRecheckMs?: number;
  /** The stream's retention: a connector silent for longer may have missed trimmed records. */
  retentionMs?: number;
  /** Most change records in one transaction. */
  maxRecordsPerTransaction?: number;
  /** Replaces the AWS SDK (tests). */
  streamsApi?: StreamsApi;
  faults?: { beforeCommit?: (info: { transaction: number; records: number }) => void | Promise<void> };
}

export type ConnectorState = 'starting' | 'standby' | 'leading' | 'halted' | 'stopped';

export interface RunningConnector {
  readonly connectorId: string;
  readonly httpPort: number;
  state(): ConnectorState;
  ready(): boolean;
  stop(): Promise<void>;
  /** Settles when the connector stopped. */
  readonly done: Promise<void>;
}

/** The broker refused our transaction because a newer instance took the transactional id. */
export const isFenced = (err: unknown): boolean => {
  const type = (err as { type?: string })?.type ?? '';
  const text = `${type} ${(err as Error)?.message ?? ''}`;
  return /INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|fenced|older epoch|old epoch/i.test(text);
};

class LeaseLostError extends Error {}

const STOP_TIMEOUT_MS = 30_000;

/** Why a halted connector stopped writing and what lets it go on: its /readyz says both. */
export interface ConnectorHalt {
  reason: string;
  remedy: string;
}

/**
 * The operator's command that accepts the gaps of this connector (`regflow connector reset
 * --accept-gap`), naming only what differs from what the command assumes by itself (the configured
 * table, the default name, topics and retention).
 */
export function resetCommand(
  config: Readonly<Config>,
  target: {
    table: string;
    name: string;
    topics: { changes: string; checkpoints: string };
    retentionMs: number;
  },
): string {
  const args = ['npx regflow connector reset --accept-gap'];
  if (target.table !== config.dynamodb.demandTable) args.push(`--table ${target.table}`);
  if (target.name !== DEFAULT_CONNECTOR_NAME) args.push(`--name ${target.name}`);
  if (target.topics.changes !== DEFAULT_TOPICS.changes) args.push(`--changes-topic ${target.topics.changes}`);
  if (target.topics.checkpoints !== DEFAULT_TOPICS.checkpoints)
    args.push(`--checkpoints-topic ${target.topics.checkpoints}`);
  if (target.retentionMs !== STREAM_RETENTION_MS) args.push(`--retention-ms ${target.retentionMs}`);
  return args.join(' ');
}

export async function runConnector(opts: ConnectorOptions): Promise<RunningConnector> {
  const { config } = opts;
  const table = opts.table ?? config.dynamodb.demandTable;
  const name = opts.name ?? DEFAULT_CONNECTOR_NAME;
  const topics = opts.topics ?? DEFAULT_TOPICS;
  const connectorId = connectorIdOf(name, table);
  const leaseTtlMs = opts.leaseTtlMs ?? 10_000;
  const pollIntervalMs = opts.pollIntervalMs ?? 500;
  const describeIntervalMs = opts.describeIntervalMs ?? 30_000;
  const checkpointRefreshMs = opts.checkpointRefreshMs ?? 5 * 60_000;
  const idleRefreshMs = opts.idleRefreshMs ?? DEFAULT_IDLE_REFRESH_MS;
  const haltRecheckMs = opts.haltRecheckMs ?? 60_000;
  const retentionMs = opts.retentionMs ?? STREAM_RETENTION_MS;
  const maxRecords = opts.maxRecordsPerTransaction ?? config.runtime.batchMaxRecords;
  const log = (opts.logger ?? createLogger(config.logLevel)).child({ connector: connectorId, table });

  const kafka = createKafka(config.kafka, {
    clientId: `${config.kafka.clientId}-${connectorId}`,
    logCreator: kafkaLogCreator(log),
  });
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  await codec.register(topics.changes, loadSchema('demand-change'));
  await codec.register(topics.checkpoints, loadSchema('connector-checkpoint'));
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const missing = [topics.changes, topics.checkpoints].filter((t) => !existing.has(t));
  if (missing.length > 0) {
    await admin.disconnect();
    throw new InfraError(`topics missing: ${missing.join(', ')} (run \`regflow topics create\`)`);
  }

  const dynamo = createDynamoDb(config.dynamodb);
  const streams = createDynamoDbStreams(config.dynamodb);
  const api = opts.streamsApi ?? awsStreamsApi(dynamo, streams);
  const redis = createRedis(config.redis);
  const lease = new RedisLease(redis, {
    key: `regflow:connector:${connectorId}:lease`,
    holder: `${hostname()}:${process.pid}:${randomUUID()}`,
    ttlMs: leaseTtlMs,
  });
  const metrics = createConnectorMetrics(connectorId);

  let state: ConnectorState = 'starting';
  let halt: ConnectorHalt | undefined;
  const remedy = resetCommand(config, { table, name, topics, retentionMs });
  let stopping = false;
  const stopController = new AbortController();
  const http = await startHttp({
    port: config.runtime.httpPort,
    host: config.runtime.httpHost,
    registry: metrics.registry,
    // Halted: not ready, with the gaps and the command that accepts them (`npm start`'s supervisor
    // and the demo show it; a container turns unhealthy).
    readiness: () => ({
      ready: state === 'leading' || state === 'standby',
      detail: state === 'halted' && halt !== undefined ? { state, ...halt } : { state },
    }),
  });
  log.info({ httpPort: http.port, topics }, 'connector started');

  const pause = (ms: number) => sleep(ms, undefined, { signal: stopController.signal }).catch(() => {});
  const setState = (next: ConnectorState) => {
    state = next;
    metrics.leader.set(next === 'leading' || next === 'halted' ? 1 : 0);
    metrics.halted.set(next === 'halted' ? 1 : 0);
  };

  const leader = new Leader({
    kafka,
    admin,
    codec,
    api,
    table,
    connectorId,
    topics,
    lease,
    metrics,
    log,
    maxRecords,
    pollIntervalMs,
    describeIntervalMs,
    checkpointRefreshMs,
    idleRefreshMs,
    retentionMs,
    isStopping: () => stopping,
    onPlanned: () => setState('leading'),
    pause,
    ...(opts.faults === undefined ? {} : { faults: opts.faults }),
  });

  async function holdLease(): Promise<void> {
    const renewer = setInterval(
      () => {
        lease.renew().then(
          (ok) => {
            if (!ok) log.warn({ token: lease.fencingToken }, 'lease lost: stopping writes, going standby');
          },
          (err: unknown) => log.warn({ error: describeError(err) }, 'lease renewal failed'),
        );
      },
      Math.max(100, Math.floor(leaseTtlMs / 4)),
    );
    let failures = 0;
    try {
      while (!stopping && lease.isHeld()) {
        try {
          // A halted connector stays halted (not ready) until a plan without gaps says otherwise.
          if ((state as ConnectorState) !== 'halted') setState('leading');
          await leader.lead();
          failures = 0;
        } catch (err) {
          if (err instanceof GapError) {
            halt = { reason: err.gaps.map((g) => `[${g.kind}] ${g.reason}`).join('; '), remedy };
            setState('halted');
            for (const gap of err.gaps) metrics.gaps.inc({ kind: gap.kind });
            log.error({ gaps: err.gaps, remedy }, err.message);
            await pause(haltRecheckMs);
          } else if (isFenced(err)) {
            log.warn(
              { error: describeError(err) },
              'fenced by another instance of this connector: going standby',
            );
            return;
          } else if (err instanceof LeaseLostError) {
            return;
          } else {
            failures++;
            const delay = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
            if (err instanceof StreamGoneError)
              log.warn({ error: describeError(err), retryInMs: delay }, 'stream not available');
            else
              log.error(
                { error: describeError(err), retryInMs: delay },
                'connector failed; starting again from the checkpoints',
              );
            await pause(delay);
          }
        }
      }
    } finally {
      clearInterval(renewer);
      if (lease.isHeld()) await lease.release().catch(() => {});
      setState(stopping ? 'stopped' : 'standby');
    }
  }

  const done = (async () => {
    while (!stopping) {
      const token = await lease.tryAcquire().catch((err: unknown) => {
        log.warn({ error: describeError(err) }, 'cannot reach Redis for the lease');
        return null;
      });
      if (token === null) {
        if ((state as ConnectorState) !== 'standby') log.info('standby: another instance holds the lease');
        setState('standby');
        await pause(Math.max(100, Math.floor(leaseTtlMs / 3)));
        continue;
      }
      log.info({ token }, 'lease acquired: leading');
      await holdLease();
      if (!stopping) await pause(Math.max(100, Math.floor(leaseTtlMs / 3)));
    }
  })().finally(async () => {
    setState('stopped');
    await Promise.allSettled([http.server.close(), admin.disconnect(), redis.quit()]);
    dynamo.destroy();
    streams.destroy();
    log.info('connector stopped');
  });

  return {
    connectorId,
    httpPort: http.port,
    state: () => state,
    ready: () => state === 'leading' || state === 'standby',
    async stop() {
      stopping = true;
      stopController.abort();
      // The timer must not keep the process alive once `done` has settled.
      await Promise.race([done, sleep(STOP_TIMEOUT_MS, undefined, { ref: false })]);
    },
    done,
  };
}

interface LeaderDeps {
  kafka: Kafka;
  admin: Admin;
  codec: Codec;
  api: StreamsApi;
  table: string;
  connectorId: string;
  topics: { changes: string; checkpoints: string };
  lease: RedisLease;
  metrics: ConnectorMetrics;
  log: Logger;
  maxRecords: number;
  pollIntervalMs: number;
  describeIntervalMs: number;
  checkpointRefreshMs: number;
  idleRefreshMs: number;
  retentionMs: number;
  isStopping: () => boolean;
  /** The shards were planned without a gap: the connector writes. */
  onPlanned: () => void;
  pause: (ms: number) => Promise<void>;
  faults?: ConnectorOptions['faults'];
}

/** One term of leadership: fence, restore the checkpoints, then read → transact until told to stop. */
class Leader {
  private transactions = 0;

  constructor(private readonly d: LeaderDeps) {}

  async lead(): Promise<void> {
    const { d } = this;
    const producer = d.kafka.producer({
      transactionalId: d.connectorId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 60_000,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 60, initialRetryTime: 10, maxRetryTime: 1_000 },
    });
    try {
      // InitProducerId with our transactional id (kafkajs's connect() alone does not send it): bumps
      // the epoch, fencing any earlier leader, and settles its open transaction before we read.
      await connectFenced(producer);
      const restored = await restoreCheckpoints(
        d.kafka,
        d.admin,
        d.codec,
        d.topics.checkpoints,
        d.connectorId,
      );
      d.log.info({ shards: restored.shards.size, token: d.lease.fencingToken }, 'checkpoints restored');
      await this.loop(producer, restored.shards);
    } finally {
      await producer.disconnect().catch(() => {});
    }
  }

  private async loop(producer: Producer, checkpoints: Map<string, ShardCheckpoint>): Promise<void> {
    const { d } = this;
    const reader = new ShardReader(d.api, {
      table: d.table,
      events: {
        onIteratorExpired: (shardId) => {
          d.metrics.iteratorExpiries.inc();
          d.log.info({ shardId }, 'shard iterator expired; acquiring a new one from the checkpoint');
        },
        onThrottled: (call, delayMs) => {
          d.metrics.throttles.inc({ call });
          d.log.debug({ call, delayMs }, 'throttled; backing off');
        },
        onRetry: (call, error, delayMs) => {
          d.metrics.streamErrors.inc({ call });
          d.log.warn(
            { call, error: describeError(error), delayMs },
            'DynamoDB Streams call failed; retrying',
          );
        },
      },
    });
    let streamArn = '';
    let nextDescribe = 0;
    let firstPlan = true;
    let lastCommit = Date.now();
    const pending = new Map<string, ShardCheckpoint | null>();

    while (!d.isStopping()) {
      if (!d.lease.isHeld()) throw new LeaseLostError('lease lost');
      const now = Date.now();
      if (now >= nextDescribe) {
        const info = await reader.discover();
        if (streamArn !== '' && info.streamArn !== streamArn) {
          d.log.warn({ previous: streamArn, current: info.streamArn }, 'the table has a new stream');
        }
        streamArn = info.streamArn;
        // Staleness is a question about the restored checkpoints: while this term runs, its own
        // commits keep them fresh, and trimming under a running reader is a TrimmedDataAccessException.
        const retentionMs = firstPlan ? d.retentionMs : Number.POSITIVE_INFINITY;
        const plan = planShards({ streamArn, shards: info.shards, checkpoints, now, retentionMs });
        firstPlan = false;
        if (plan.gaps.length > 0) throw new GapError(plan.gaps);
        d.onPlanned();
        reader.assign(plan.read);
        // A closed shard whose last record is already emitted is done and no longer read, even if
        // no GetRecords answer ended it (DescribeStream showed the split first): mark it finished
        // now, in the transaction before (or with) its children's first records.
        for (const c of finishedUnmarked(streamArn, info.shards, checkpoints)) {
          if (pending.has(c.shardId)) continue;
          pending.set(c.shardId, { ...c, updatedAt: now });
          d.log.info({ shardId: c.shardId }, 'shard emitted to its ending sequence number: finished');
        }
        for (const r of plan.read) {
          // A "started" checkpoint: lineage must know this shard was begun, even before its first record.
          if (!checkpoints.has(r.shardId) && !pending.has(r.shardId))
            pending.set(r.shardId, blank(streamArn, r.shardId, now));
        }
        for (const id of prunableCheckpoints(streamArn, info.shards, checkpoints)) pending.set(id, null);
        d.log.debug(
          { read: plan.read.length, waiting: plan.waiting.length, finished: plan.finished.length },
          'shards planned',
        );
        nextDescribe = now + d.describeIntervalMs;
      }

      const messages: ChangeMessage[] = [];
      const read: { shardId: string; last: string | undefined }[] = [];
      /** Shards this round read to their current end: nothing new since the previous read. */
      const idle: string[] = [];
      let shardEnded = false;
      for (const shardId of reader.assigned()) {
        if (messages.length >= d.maxRecords) break;
        const page = await reader.read(shardId);
        const base = pending.get(shardId) ?? checkpoints.get(shardId) ?? blank(streamArn, shardId, now);
        let last: string | undefined;
        let created: number | null = base.approximateCreationTime;
        for (const record of page.records) {
          last = record.dynamodb?.SequenceNumber ?? last;
          try {
            const change = changeFromStreamRecord(record, d.table, shardId);
            created = change.value.approximateCreationTime;
            messages.push(change);
          } catch (err) {
            d.metrics.badRecords.inc();
            d.log.error(
              {
                shardId,
                eventId: record.eventID,
                sequenceNumber: record.dynamodb?.SequenceNumber,
                error: describeError(err),
              },
              'stream record cannot become a change record; skipped',
            );
          }
        }
        d.metrics.shardLag.set(
          { shard: shardId },
          page.records.length === 0 || created === null ? 0 : (Date.now() - created) / 1000,
        );
        read.push({ shardId, last });
        if (page.records.length === 0 && !page.ended) idle.push(shardId);
        if (last !== undefined || page.ended) {
          pending.set(shardId, {
            ...base,
            sequenceNumber: last ?? base.sequenceNumber,
            finished: page.ended,
            approximateCreationTime: created,
            // The time up to which the shard is known read. A page of records may have more of
            // them behind it, written before `now`: it vouches only for its last record's creation
            // time (a shard holds its records in the order written). A read that finds nothing
            // new vouches for `now` (the idle refresh below).
            updatedAt: page.ended || created === null ? now : Math.min(now, created),
          });
        }
        if (page.ended) {
          shardEnded = true;
          d.log.info({ shardId }, 'shard read to its end');
        }
      }

      // An idle shard has everything written before `now` (this round's start, before its read)
      // in Kafka: its checkpoint's time moves to `now`, in a transaction like any checkpoint,
      // when it is idleRefreshMs old. Only then: an idle connector commits every few seconds,
      // never once per poll.
      for (const shardId of idle) {
        const c = checkpoints.get(shardId);
        if (c === undefined || pending.has(shardId) || c.streamArn !== streamArn) continue;
        if (now - c.updatedAt >= d.idleRefreshMs) pending.set(shardId, { ...c, updatedAt: now });
      }
      if (now - lastCommit >= d.checkpointRefreshMs) {
        for (const c of checkpoints.values()) {
          if (c.streamArn === streamArn && !pending.has(c.shardId))
            pending.set(c.shardId, { ...c, updatedAt: now });
        }
      }

      if (messages.length > 0 || pending.size > 0) {
        if (!d.lease.isHeld()) throw new LeaseLostError('lease lost before commit');
        try {
          await this.commit(producer, messages, pending);
        } catch (err) {
          reader.rewind();
          throw err;
        }
        for (const [shardId, c] of pending) {
          if (c === null) checkpoints.delete(shardId);
          else checkpoints.set(shardId, c);
        }
        pending.clear();
        lastCommit = now;
      }
      for (const r of read) reader.commit(r.shardId, r.last);
      if (shardEnded) nextDescribe = 0;
      if (messages.length === 0) await d.pause(d.pollIntervalMs);
    }
  }

  private async commit(
    producer: Producer,
    changes: ChangeMessage[],
    checkpoints: ReadonlyMap<string, ShardCheckpoint | null>,
  ): Promise<void> {
    const { d } = this;
    const started = performance.now();
    const changeMessages: Message[] = await Promise.all(
      changes.map(async (c) => ({ key: c.key, value: await d.codec.encode(d.topics.changes, c.value) })),
    );
    const checkpointMessages: Message[] = await Promise.all(
      [...checkpoints].map(async ([shardId, c]) => ({
        key: shardKeyOf(d.connectorId, shardId),
        value:
          c === null
            ? null
            : await d.codec.encode(
                d.topics.checkpoints,
                shardCheckpointRecord(d.connectorId, d.table, c) satisfies ConnectorCheckpoint,
              ),
      })),
    );
    const txn = await producer.transaction();
    try {
      await txn.sendBatch({
        topicMessages: [
          ...(changeMessages.length > 0 ? [{ topic: d.topics.changes, messages: changeMessages }] : []),
          { topic: d.topics.checkpoints, messages: checkpointMessages },
        ],
        acks: -1,
      });
      this.transactions++;
      await d.faults?.beforeCommit?.({ transaction: this.transactions, records: changes.length });
      await txn.commit();
    } catch (err) {
      d.metrics.runtime.abort();
      await txn.abort().catch(() => {});
      throw err;
    }
    d.metrics.runtime.transaction();
    if (changes.length > 0) d.metrics.runtime.recordsOut(d.topics.changes, changes.length);
    d.metrics.runtime.recordsOut(d.topics.checkpoints, checkpointMessages.length);
    d.metrics.runtime.batchSeconds((performance.now() - started) / 1000);
  }
}

const blank = (streamArn: string, shardId: string, now: number): ShardCheckpoint => ({
  streamArn,
  shardId,
  sequenceNumber: null,
  finished: false,
  approximateCreationTime: null,
  updatedAt: now,
});
