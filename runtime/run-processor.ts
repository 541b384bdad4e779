import { performance } from 'node:perf_hooks';
import type { Admin, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { describeError, PermanentError } from '../lib/errors.ts';
import { createLogger, kafkaLogCreator } from '../lib/logger.ts';
import { deadLetterTopicName, retryTopicName } from '../topology/types.ts';
import { Codec } from './codec.ts';
import { dueAt, tierOf } from './failures.ts';
import { readHeaders } from './headers.ts';
import { startHttp } from './http.ts';
import { createMetrics } from './metrics.ts';
import { createRecordProcessor, type EncodedMessage } from './process-record.ts';
import { PartitionProducers } from './transactions.ts';
import type { FaultHooks, HandlerContext, ProcessorDefinition } from './types.ts';

// The engine every processor runs on: a read-committed consumer group, one transactional
// producer per assigned input partition (kafkajs has no KIP-447, so a partition's transactional
// id is what fences a zombie), per-record error isolation, in-place retries, retry tiers and the
// dead-letter topic, and outputs + retry/DLT records + consumed offsets in one transaction.

export interface RunProcessorOptions {
  config: Readonly<Config>;
  definition: ProcessorDefinition;
  logger?: Logger;
  faults?: FaultHooks;
  /** Partitions handled at once by this process (each has its own producer). */
  partitionsConsumedConcurrently?: number;
}

export interface RunningProcessor {
  readonly httpPort: number;
  ready(): boolean;
  stop(): Promise<void>;
  /** Settles when the processor stops: rejects when the consumer crashed for good. */
  readonly done: Promise<void>;
}

/** How long a graceful stop waits for the batch in hand before closing regardless. */
const STOP_TIMEOUT_MS = 30_000;

/** kafkajs's Batch keeps where its fetch started, but its types do not say so. */
const fetchedOffsetOf = (batch: EachBatchPayload['batch']) =>
  (batch as unknown as { fetchedOffset: string }).fetchedOffset;

const maxOffset = (a: string, b: string) => (BigInt(a) >= BigInt(b) ? a : b);

export async function runProcessor(opts: RunProcessorOptions): Promise<RunningProcessor> {
  const { config, definition, faults } = opts;
  const { spec } = definition;
  const group = spec.name;
  const logger = (opts.logger ?? createLogger(config.logLevel)).child({ processor: group });
  const kafka = createKafka(config.kafka, {
    clientId: `${config.kafka.clientId}-${group}`,
    logCreator: kafkaLogCreator(logger),
  });
  const metrics = createMetrics(group);
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  const retryTopics = spec.retry.tierDelaysMs.map((_, i) => retryTopicName(group, i + 1));
  const consumed = [...spec.inputs, ...retryTopics];

  for (const [topic, schema] of Object.entries(definition.outputSchemas)) await codec.register(topic, schema);
  for (const topic of spec.outputs) codec.schemaId(topic);

  const processOne = createRecordProcessor({ spec, handler: definition.handler, codec });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await requireTopics(admin, [...consumed, ...spec.outputs, deadLetterTopicName(group)]);
  } catch (err) {
    await admin.disconnect();
    throw err;
  }

  let joined = false;
  let stopping = false;
  const resumeTimers = new Set<NodeJS.Timeout>();

  const http = await startHttp({
    port: config.runtime.httpPort,
    host: config.runtime.httpHost,
    registry: metrics.registry,
    ready: () => joined && !stopping,
  }).catch(async (err: NodeJS.ErrnoException) => {
    await admin.disconnect();
    if (err.code !== 'EADDRINUSE') throw err;
    throw new PermanentError(
      `port ${config.runtime.httpPort} (REGFLOW_HTTP_PORT) is taken: give each processor process its own, or 0`,
    );
  });

  const consumer = kafka.consumer({
    groupId: group,
    readUncommitted: false,
    sessionTimeout: config.runtime.sessionTimeoutMs,
    heartbeatInterval: Math.max(1_000, Math.floor(config.runtime.sessionTimeoutMs / 10)),
    rebalanceTimeout: Math.max(60_000, config.runtime.sessionTimeoutMs * 2),
    maxBytesPerPartition: 1_048_576,
    maxWaitTimeInMs: 250,
    retry: { retries: 10 },
  });

  const producers = new PartitionProducers(kafka, admin, group, faults);

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    producers.rebalanced(e.payload.memberAssignment);
    metrics.lag.reset();
    logger.info(
      {
        assignment: e.payload.memberAssignment,
        memberId: e.payload.memberId,
        generation: producers.currentGeneration,
      },
      'joined group',
    );
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    metrics.lag.set(
      { topic: e.payload.topic, partition: String(e.payload.partition) },
      Number(e.payload.offsetLag),
    );
  });

  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  consumer.on(consumer.events.CRASH, (e) => {
    if (e.payload.restart) {
      logger.warn({ err: describeError(e.payload.error) }, 'consumer crashed; kafkajs restarts it');
      return;
    }
    logger.fatal({ err: describeError(e.payload.error) }, 'consumer crashed and will not restart');
    void stop().finally(() => settle.reject(e.payload.error));
  });

  async function handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const log = logger.child({ topic, partition });
    const acquired = await producers.acquire(topic, partition);
    if (acquired === null) {
      // Not (or no longer) ours: opening its producer would fence the owner. Leave it unresolved.
      log.warn(
        { generation: producers.currentGeneration },
        'batch for a partition outside the assignment skipped',
      );
      return;
    }
    const { state, opened } = acquired;
    if (opened) {
      log.debug(
        { next: state.next?.toString() ?? 'none', generation: state.generation },
        'partition producer ready',
      );
    }
    let messages: KafkaMessage[] = batch.messages;
    if (messages.length === 0) return;
    if (state.next !== null) {
      const next = state.next;
      // Compare where the fetch started, not the first record: transaction markers and aborted
      // records between the committed offset and the first record are invisible but legitimate.
      if (BigInt(fetchedOffsetOf(batch)) > next) {
        // The fetch position ran ahead of what is committed (an aborted transaction): go back.
        log.debug(
          { fetched: fetchedOffsetOf(batch), next: next.toString() },
          'fetch ahead of committed; seeking back',
        );
        consumer.seek({ topic, partition, offset: next.toString() });
        return;
      }
      const fetched = messages.length;
      messages = messages.filter((m) => BigInt(m.offset) >= next);
      if (messages.length < fetched) {
        // kafkajs's position came from an OffsetFetch before a commit we now see (a stale
        // member's, accepted because kafkajs's TxnOffsetCommit v0/v1 carries no generation): skip what it covered.
        log.debug(
          { fetched: fetchedOffsetOf(batch), next: next.toString(), skipped: fetched - messages.length },
          'fetch behind committed; records before it skipped',
        );
      }
      if (messages.length === 0) {
        resolveOffset(batch.lastOffset());
        return;
      }
    }

    const tier = tierOf(group, topic);
    const chunkSize = config.runtime.batchMaxRecords;
    for (let start = 0; start < messages.length; start += chunkSize) {
      if (!isRunning() || isStale()) return;
      const chunk = messages.slice(start, start + chunkSize);
      const t0 = performance.now();
      const out: EncodedMessage[] = [];
      let last: KafkaMessage | null = null;
      let waitUntil = 0;
      let handled = 0;
      let lastBeat = 0;
      for (const message of chunk) {
        if (!isRunning() || isStale()) break;
        const headers = readHeaders(message.headers as Record<string, unknown>);
        if (tier > 0 && dueAt(headers) > Date.now()) {
          waitUntil = dueAt(headers);
          break;
        }
        const outcome = await processOne(
          {
            topic,
            partition,
            offset: message.offset,
            timestamp: message.timestamp,
            key: message.key,
            value: message.value,
            headers,
          },
          new HandlerLog(group, log, message.offset),
          (info) => {
            metrics.retries.inc({ where: 'in-place' });
            log.warn(
              { offset: message.offset, attempt: info.attempt, err: describeError(info.error) },
              'retrying in place',
            );
          },
        );
        if (outcome.ok) {
          out.push(...outcome.messages);
        } else {
          const { failure } = outcome;
          metrics.errors.inc({ kind: failure.kind });
          if (failure.kind === 'retry') metrics.retries.inc({ where: failure.topic });
          else metrics.deadLetters.inc();
          log.warn(
            {
              offset: message.offset,
              to: failure.topic,
              attempts: outcome.attempts,
              err: describeError(outcome.error),
            },
            failure.kind === 'retry' ? 'record sent to retry tier' : 'record dead-lettered',
          );
          out.push({
            topic: failure.topic,
            key: failure.key,
            value: failure.value,
            headers: failure.headers,
          });
        }
        last = message;
        handled++;
        // kafkajs sends heartbeats only when asked: ask at least every second (it throttles them
        // to heartbeatInterval), or slow handlers and retries would outlast the session timeout.
        // Asking after every record costs a few promises per record on the hot path.
        if (Date.now() - lastBeat >= 1_000) {
          await heartbeat();
          lastBeat = Date.now();
        }
      }
      if (last !== null) {
        // At the end of the batch, step over trailing markers / aborted records too, so the
        // committed offset is where the next fetch starts.
        const atBatchEnd = last === batch.messages[batch.messages.length - 1];
        const resolved = atBatchEnd ? maxOffset(last.offset, batch.lastOffset()) : last.offset;
        const nextOffset = BigInt(resolved) + 1n;
        try {
          await producers.commit(state, topic, partition, out, nextOffset);
        } catch (err) {
          metrics.aborts.inc();
          log.warn(
            { err: describeError(err) },
            'transaction aborted; the partition restarts from its committed offset',
          );
          const restartAt = state.next ?? BigInt(chunk[0]!.offset);
          log.debug({ first: chunk[0]!.offset, restartAt: restartAt.toString() }, 'seeking back after abort');
          await producers.drop(topic, partition);
          consumer.seek({ topic, partition, offset: restartAt.toString() });
          return;
        }
        resolveOffset(resolved);
        log.debug(
          {
            first: chunk[0]!.offset,
            last: last.offset,
            next: nextOffset.toString(),
            generation: state.generation,
          },
          'transaction committed',
        );
        metrics.transactions.inc();
        metrics.recordsIn.inc({ topic }, handled);
        countOutputs(metrics, out);
        metrics.batchSeconds.observe((performance.now() - t0) / 1000);
      }
      if (waitUntil > 0) {
        pauseUntil(topic, partition, waitUntil);
        return;
      }
    }
  }

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

  let stopped: Promise<void> | null = null;
  function stop(): Promise<void> {
    stopped ??= (async () => {
      stopping = true;
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
      const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS).unref());
      if (!(await Promise.race([disconnected, timedOut]))) {
        logger.error(
          { timeoutMs: STOP_TIMEOUT_MS },
          'the batch in hand did not finish in time; closing anyway',
        );
      }
      await producers.closeAll();
      await admin.disconnect().catch(() => {});
      await http.server.close();
      logger.info('stopped');
      settle.resolve();
    })();
    return stopped;
  }

  try {
    await consumer.connect();
    for (const topic of consumed) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 3,
      eachBatch: handleBatch,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  logger.info({ inputs: consumed, outputs: spec.outputs, httpPort: http.port }, 'processor started');

  return {
    httpPort: http.port,
    ready: () => joined && !stopping,
    stop,
    done,
  };
}

function countOutputs(metrics: ReturnType<typeof createMetrics>, out: EncodedMessage[]): void {
  const counts = new Map<string, number>();
  for (const m of out) counts.set(m.topic, (counts.get(m.topic) ?? 0) + 1);
  for (const [topic, n] of counts) metrics.recordsOut.inc({ topic }, n);
}

/** The handler's context: its logger adds the record's offset only when it logs (a child logger per record costs). */
class HandlerLog implements HandlerContext {
  constructor(
    readonly processor: string,
    private readonly logger: Logger,
    private readonly offset: string,
  ) {}
  get log(): HandlerContext['log'] {
    return this;
  }
  info(obj: object, msg?: string): void {
    this.logger.info({ ...obj, offset: this.offset }, msg);
  }
  warn(obj: object, msg?: string): void {
    this.logger.warn({ ...obj, offset: this.offset }, msg);
  }
}

async function requireTopics(admin: Admin, topics: readonly string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length > 0) {
    throw new PermanentError(`missing topic(s) ${missing.join(', ')}: run \`regflow topics create\` first`);
  }
}
