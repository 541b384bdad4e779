import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { describeError, PermanentError } from '../lib/errors.ts';
import { createLogger, kafkaLogCreator } from '../lib/logger.ts';
import { deadLetterTopicName, retryTopicName } from '../topology/types.ts';
import { Codec } from './codec.ts';
import { startHttp } from './http.ts';
import { createMetrics, processorMetrics } from './metrics.ts';
import { type ProcessorConsumer, startProcessorConsumer } from './processor-consumer.ts';
import { ResourcePool } from './resources.ts';
import type { AnyProcessorDefinition, FaultHooks } from './types.ts';

// A processor process: one or more processors (`regflow run a b c`) sharing one HTTP endpoint
// (/healthz, /readyz, /metrics), one resource pool (a MongoDB client opened once, whoever uses it),
// one Kafka admin client and one schema registry client, and one graceful stop. Each processor is
// its own consumer group (processor-consumer.ts) with its own transactional producers.
//
// One admin, not one per processor: an admin's client keeps the metadata of every topic on the
// cluster (listTopics), and each admin holds its own broker connections; 13 of them in `npm
// start`'s processors process cost memory for nothing (README: Memory). One registry client: the
// parsed schemas are cached once per process, whichever processor decoded them first.

export interface RunProcessorsOptions {
  config: Readonly<Config>;
  definitions: readonly AnyProcessorDefinition[];
  logger?: Logger;
  faults?: FaultHooks;
  /** Partitions handled at once by each processor (each has its own producer). */
  partitionsConsumedConcurrently?: number;
}

export interface RunningProcessor {
  readonly httpPort: number;
  ready(): boolean;
  stop(): Promise<void>;
  /** Settles when the processors stop: rejects when a consumer crashed for good. */
  readonly done: Promise<void>;
}

/** How long a graceful stop waits for the batch in hand before closing regardless. */
const STOP_TIMEOUT_MS = 30_000;

export async function runProcessors(opts: RunProcessorsOptions): Promise<RunningProcessor> {
  const { config, definitions } = opts;
  if (definitions.length === 0) throw new PermanentError('no processor to run');
  const names = definitions.map((d) => d.spec.name);
  const logger = opts.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const pool = new ResourcePool({ config, logger });
  const consumers = new Map<string, ProcessorConsumer>();
  let stopping = false;

  const readiness = () => {
    const processors = Object.fromEntries(
      names.map((n) => [n, consumers.get(n)?.joined() ? 'joined' : 'starting']),
    );
    const resources = pool.report();
    const ready = !stopping && pool.ready() && names.every((n) => consumers.get(n)?.joined() === true);
    return { ready, detail: { processors, resources } };
  };
  const http = await startHttp({
    port: config.runtime.httpPort,
    host: config.runtime.httpHost,
    registry: metrics.registry,
    readiness,
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    throw new PermanentError(
      `port ${config.runtime.httpPort} (REGFLOW_HTTP_PORT) is taken: give each processor process its own, or 0`,
    );
  });

  const closers: (() => Promise<void>)[] = [];
  const registry = createSchemaRegistry(config.schemaRegistry);
  let shared: { admin: Admin; topics: Set<string> } | undefined;
  const sharedAdmin = async () => {
    if (shared) return shared;
    const admin = createKafka(config.kafka, {
      clientId: `${config.kafka.clientId}-admin`,
      logCreator: kafkaLogCreator(logger),
    }).admin();
    closers.push(() => admin.disconnect().catch(() => {}));
    await admin.connect();
    shared = { admin, topics: new Set(await admin.listTopics()) };
    return shared;
  };
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      await Promise.all([...consumers.values()].map((c) => c.stop(STOP_TIMEOUT_MS)));
      for (const close of closers.reverse()) await close().catch(() => {});
      await pool.closeAll();
      await http.server.close();
      logger.info({ processors: names }, 'stopped');
      settle.resolve();
    })();
    return stopped;
  };

  try {
    for (const definition of definitions) {
      const log = logger.child({ processor: definition.spec.name });
      const started = await startOne(definition, log);
      closers.push(started.close);
      consumers.set(definition.spec.name, started.consumer);
      started.consumer.crashed.catch((err: unknown) => {
        void stop().finally(() => settle.reject(err));
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  logger.info({ processors: names, httpPort: http.port }, 'processors started');
  return { httpPort: http.port, ready: () => readiness().ready, stop, done };

  async function startOne(definition: AnyProcessorDefinition, log: Logger) {
    const { spec } = definition;
    if (definition.batch && !(Number.isInteger(definition.batch.size) && definition.batch.size >= 1)) {
      throw new PermanentError(`${spec.name}: batch size must be a positive whole number`);
    }
    const kafka = createKafka(config.kafka, {
      clientId: `${config.kafka.clientId}-${spec.name}`,
      logCreator: kafkaLogCreator(log),
    });
    const codec = new Codec(registry);
    for (const [topic, schema] of Object.entries(definition.outputSchemas))
      await codec.register(topic, schema);
    for (const topic of spec.outputs) codec.schemaId(topic);
    const resources = await pool.acquire(definition.resources);
    const close = () => pool.release(definition.resources);
    try {
      const { admin, topics } = await sharedAdmin();
      const retryTopics = spec.retry.tierDelaysMs.map((_, i) => retryTopicName(spec.name, i + 1));
      await requireTopics(admin, topics, [
        ...spec.inputs,
        ...retryTopics,
        ...spec.outputs,
        deadLetterTopicName(spec.name),
      ]);
      const consumer = await startProcessorConsumer({
        config,
        definition,
        kafka,
        admin,
        codec,
        resources,
        metrics: processorMetrics(metrics, spec.name),
        logger: log,
        faults: opts.faults,
        partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 3,
      });
      return { consumer, close };
    } catch (err) {
      log.error({ err: describeError(err) }, 'processor failed to start');
      await close();
      throw err;
    }
  }
}

/** One processor in its own process (the tests' and the benchmark's shape). */
export function runProcessor(
  opts: Omit<RunProcessorsOptions, 'definitions'> & { definition: AnyProcessorDefinition },
): Promise<RunningProcessor> {
  const { definition, ...rest } = opts;
  return runProcessors({
    ...rest,
    definitions: [definition],
    logger: (opts.logger ?? createLogger(opts.config.logLevel)).child({ processor: definition.spec.name }),
  });
}

/** Every topic must exist: looked up in `known` (listed once per process), then asked again. */
async function requireTopics(
  admin: { listTopics(): Promise<string[]> },
  known: Set<string>,
  topics: readonly string[],
): Promise<void> {
  if (topics.some((t) => !known.has(t))) for (const t of await admin.listTopics()) known.add(t);
  const missing = topics.filter((t) => !known.has(t));
  if (missing.length > 0) {
    throw new PermanentError(`missing topic(s) ${missing.join(', ')}: run \`regflow topics create\` first`);
  }
}
