import type { Admin, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { describeError } from '../lib/errors.ts';
import { retryTopicName } from '../topology/types.ts';
import type { Codec } from './codec.ts';
import { tierOf } from './failures.ts';
import { handlerHeartbeat } from './heartbeat.ts';
import { PendingOutcomes, type ProcessorMetrics } from './metrics.ts';
import { handlePartitionBatch, type PartitionIO, type PartitionWork } from './partition-batch.ts';
import { createBatchProcessor } from './process-batch.ts';
import { createRecordProcessor, type EncodedMessage, type OnRetry } from './process-record.ts';
import { PartitionProducers, type PartitionState } from './transactions.ts';
import type { AnyProcessorDefinition, FaultHooks, HandlerContext, HandlerLogger } from './types.ts';

// One processor's consumer group: a read-committed consumer, one transactional producer per
// assigned input partition (transactions.ts), and kafkajs's batches bridged to the partition
// loop (partition-batch.ts). The process around it (resources, HTTP, signals) is run-processor.ts.

export interface ProcessorConsumerDeps {
  config: Readonly<Config>;
  definition: AnyProcessorDefinition;
  kafka: Kafka;
  admin: Admin;
  codec: Codec;
  resources: unknown;
  metrics: ProcessorMetrics;
  logger: Logger;
  faults?: FaultHooks;
  partitionsConsumedConcurrently: number;
}

export interface ProcessorConsumer {
  joined(): boolean;
  stop(timeoutMs: number): Promise<void>;
  /** Rejects when the consumer crashed for good. */
  readonly crashed: Promise<never>;
}

/**
 * A partition producer no batch used for this long is closed (PartitionProducers.closeIdle): after
 * a burst, a processor keeps no producer per partition it once handled. Longer than the retry
 * tiers' waits up to 30 s, so a tier being drained keeps its producers.
 */
export const PRODUCER_IDLE_MS = 60_000;

/** kafkajs's Batch keeps where its fetch started, but its types do not say so. */
const fetchedOffsetOf = (batch: EachBatchPayload['batch']) =>
  (batch as unknown as { fetchedOffset: string }).fetchedOffset;

export async function startProcessorConsumer(deps: ProcessorConsumerDeps): Promise<ProcessorConsumer> {
  const { config, definition, kafka, admin, metrics, logger } = deps;
  const { spec } = definition;
  const group = spec.name;
  const consumed = [...spec.inputs, ...spec.retry.tierDelaysMs.map((_, i) => retryTopicName(group, i + 1))];
  const work = createWork(deps);

  let joined = false;
  let stopping = false;
  const resumeTimers = new Set<NodeJS.Timeout>();

  const consumer = kafka.consumer({
    groupId: group,
    readUncommitted: false,
    sessionTimeout: config.runtime.sessionTimeoutMs,
    heartbeatInterval: Math.max(1_000, Math.floor(config.runtime.sessionTimeoutMs / 10)),
    rebalanceTimeout: Math.max(60_000, config.runtime.sessionTimeoutMs * 2),
    // Up to 4 MiB per partition and fetch: with ~1 KB records a 1 MiB fetch capped every
    // transaction at ~1,000 records, below REGFLOW_BATCH_MAX_RECORDS (PERF-NOTES).
    maxBytesPerPartition: 4 * 1_048_576,
    maxWaitTimeInMs: 250,
    retry: { retries: 10 },
  });
  const producers = new PartitionProducers(kafka, admin, group, deps.faults);

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    producers.rebalanced(e.payload.memberAssignment);
    metrics.resetLag();
    logger.info({ assignment: e.payload.memberAssignment, memberId: e.payload.memberId }, 'joined group');
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    metrics.lag(e.payload.topic, e.payload.partition, Number(e.payload.offsetLag));
  });
  let crash!: (err: unknown) => void;
  const crashed = new Promise<never>((_, reject) => {
    crash = reject;
  });
  crashed.catch(() => {});
  consumer.on(consumer.events.CRASH, (e) => {
    if (e.payload.restart) {
      logger.warn({ err: describeError(e.payload.error) }, 'consumer crashed; kafkajs restarts it');
      return;
    }
    logger.fatal({ err: describeError(e.payload.error) }, 'consumer crashed and will not restart');
    crash(e.payload.error);
  });

  function pauseUntil(topic: string, partition: number, until: number): void {
    // A tier's records all wait the same fixed delay, so they fall due in order: pausing the
    // partition until the first one is due delays nothing behind it.
    if (stopping) return;
    consumer.pause([{ topic, partitions: [partition] }]);
    const timer = setTimeout(
      () => {
        resumeTimers.delete(timer);
        if (stopping) return;
        try {
          consumer.resume([{ topic, partitions: [partition] }]);
        } catch (err) {
          // kafkajs throws while it restarts a crashed consumer; the restart resumes fetching anyway.
          logger.warn({ topic, partition, err: describeError(err) }, 'could not resume a retry tier');
        }
      },
      Math.max(0, until - Date.now()),
    );
    timer.unref();
    resumeTimers.add(timer);
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const log = logger.child({ topic, partition });
    // The producer this batch started with: a batch never commits through a later one.
    let state: PartitionState | undefined;
    const io: PartitionIO = {
      acquire: async () => {
        const acquired = await producers.acquire(topic, partition);
        if (acquired === null) {
          log.warn(
            { fetched: batch.messages.length },
            'batch for a partition outside the assignment skipped',
          );
          return null;
        }
        if (acquired.opened) {
          log.debug(
            { next: acquired.state.next?.toString() ?? 'none', generation: acquired.state.generation },
            'partition producer ready',
          );
        }
        state = acquired.state;
        return state;
      },
      commit: (messages, nextOffset) => producers.commit(state!, topic, partition, messages, nextOffset),
      drop: () => producers.drop(topic, partition),
      seek: (offset) => {
        log.debug({ offset: offset.toString() }, 'seeking back to the committed offset');
        consumer.seek({ topic, partition, offset: offset.toString() });
      },
      resolveOffset,
      heartbeat,
      active: () => isRunning() && !isStale(),
      pauseUntil: (until) => pauseUntil(topic, partition, until),
    };
    producers.hold(topic, partition);
    try {
      await handlePartitionBatch(
        {
          topic,
          partition,
          fetchedOffset: fetchedOffsetOf(batch),
          lastOffset: batch.lastOffset(),
          messages: batch.messages,
        },
        io,
        work(topic, log, heartbeat),
      );
    } finally {
      producers.release(topic, partition);
    }
  }

  await consumer.connect();
  for (const topic of consumed) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: deps.partitionsConsumedConcurrently,
    eachBatch,
  });
  logger.info({ inputs: consumed, outputs: spec.outputs }, 'processor started');
  const reaper = setInterval(() => {
    const closed = producers.closeIdle(PRODUCER_IDLE_MS);
    if (closed > 0) logger.debug({ closed, open: producers.size }, 'idle partition producers closed');
  }, PRODUCER_IDLE_MS / 4);
  reaper.unref();

  let stopped: Promise<void> | null = null;
  return {
    joined: () => joined && !stopping,
    crashed,
    stop: (timeoutMs) => {
      stopped ??= (async () => {
        stopping = true;
        clearInterval(reaper);
        for (const t of resumeTimers) clearTimeout(t);
        // disconnect() lets the batch in hand finish (its transaction commits or aborts), then
        // leaves the group so the partitions move at once instead of after the session timeout.
        const disconnected = consumer
          .disconnect()
          .then(() => true)
          .catch((err) => {
            logger.warn({ err: describeError(err) }, 'consumer disconnect');
            return true;
          });
        const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
        if (!(await Promise.race([disconnected, timedOut]))) {
          logger.error({ timeoutMs }, 'the batch in hand did not finish in time; closing anyway');
        }
        await producers.closeAll();
      })();
      return stopped;
    },
  };
}

/** What the partition loop needs from the definition: the handler path, built once per processor. */
function createWork(
  deps: ProcessorConsumerDeps,
): (topic: string, log: Logger, heartbeat: () => Promise<void>) => PartitionWork {
  const { definition, codec, metrics, config } = deps;
  const { spec } = definition;
  const group = spec.name;
  const processOne = definition.handler
    ? createRecordProcessor({ spec, handler: definition.handler, codec })
    : null;
  const processMany = definition.batch
    ? createBatchProcessor({ spec, handler: definition.batch.handler, codec })
    : null;
  const unitSize = definition.batch ? definition.batch.size : 1;

  return (topic, log, beat) => {
    const onRetry: OnRetry = (info) => {
      metrics.retry('in-place');
      log.warn({ attempt: info.attempt, err: describeError(info.error) }, 'retrying in place');
    };
    // The handler's counts of this batch's chunk in hand, counted once its transaction commits.
    const outcomes = new PendingOutcomes();

    // A long handler keeps the group membership through ctx.heartbeat(); a refused one is logged
    // once per batch, and the partition loop's own heartbeat after the handler acts on it.
    let refused = false;
    const heartbeat = handlerHeartbeat(beat, {
      onError: (err) => {
        if (refused) return;
        refused = true;
        log.warn({ err: describeError(err) }, 'heartbeat during a handler call refused');
      },
    });

    const batchCtx: HandlerContext = {
      processor: group,
      log,
      resources: deps.resources,
      metrics: outcomes,
      heartbeat,
    };
    // Records of a partition are handled one after another: one context serves them all, its
    // logger told the offset in hand (no allocation per record).
    const recordLog = new OffsetLog(log);
    const recordCtx: HandlerContext = {
      processor: group,
      log: recordLog,
      resources: deps.resources,
      metrics: outcomes,
      heartbeat,
    };
    return {
      tier: tierOf(group, topic),
      chunkSize: config.runtime.batchMaxRecords,
      unitSize,
      process: async (records) => {
        if (processMany) return processMany(records, batchCtx, onRetry);
        const record = records[0]!;
        recordLog.offset = record.offset;
        return [await processOne!(record, recordCtx, onRetry)];
      },
      telemetry: {
        failed: (outcome, record) => {
          const { failure } = outcome;
          metrics.error(failure.kind);
          if (failure.kind === 'retry') metrics.retry(failure.topic);
          else metrics.deadLetter();
          log.warn(
            {
              offset: record.offset,
              to: failure.topic,
              attempts: outcome.attempts,
              err: describeError(outcome.error),
            },
            failure.kind === 'retry' ? 'record sent to retry tier' : 'record dead-lettered',
          );
        },
        committed: ({ records, messages, seconds }) => {
          metrics.transaction();
          metrics.recordsIn(topic, records);
          countOutputs(metrics, messages);
          for (const [outcome, n] of outcomes.take()) metrics.outcome(outcome, n);
          metrics.batchSeconds(seconds);
        },
        aborted: (err) => {
          outcomes.take();
          metrics.abort();
          log.warn(
            { err: describeError(err) },
            'transaction aborted; the partition restarts from its committed offset',
          );
        },
      },
    };
  };
}

function countOutputs(metrics: ProcessorMetrics, out: EncodedMessage[]): void {
  const counts = new Map<string, number>();
  for (const m of out) counts.set(m.topic, (counts.get(m.topic) ?? 0) + 1);
  for (const [topic, n] of counts) metrics.recordsOut(topic, n);
}

/** A record handler's logger: adds the offset in hand only when it logs (a child logger per record costs). */
class OffsetLog implements HandlerLogger {
  offset = '';
  constructor(private readonly logger: Logger) {}
  info(obj: object, msg?: string): void {
    this.logger.info({ ...obj, offset: this.offset }, msg);
  }
  warn(obj: object, msg?: string): void {
    this.logger.warn({ ...obj, offset: this.offset }, msg);
  }
}
