import { loadavg } from 'node:os';
import { type Config, loadConfig } from '../config/index.ts';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { type ConnectorHalt, DEFAULT_CONNECTOR_NAME } from '../connectors/dynamodb-streams/connector.ts';
import {
  createDynamoDb,
  createKafka,
  createMongo,
  createRedis,
  createS3,
  createSchemaRegistry,
} from '../lib/clients.ts';
import { describeError, UsageError } from '../lib/errors.ts';
import { freePort } from '../lib/ports.ts';
import { Codec } from '../runtime/codec.ts';
import { ApiClient } from './api-client.ts';
import { type DemoContext, until } from './context.ts';
import { newRunId } from './fans.ts';
import type { DemoOptions } from './options.ts';
import {
  DemoPipeline,
  otherPipeline,
  prepareServices,
  readyGroups,
  SELECTION_PROCESSORS,
  systemComponents,
  systemProcessors,
} from './pipeline.ts';
import { fmtInt, formatSummary, type Output, passed, Report } from './report.ts';
import { runScenario1 } from './scenario1.ts';
import { runScenario2 } from './scenario2.ts';
import { REJECTED_TOPIC, runScenario3 } from './scenario3.ts';
import { demoTimeline } from './timeline.ts';
import { deadLetterOffsets, deadLettersSince, endOffsets, recordsSince } from './topics.ts';

// `npm run demo`: the orchestration. Services up, refuse if another pipeline is running on them,
// start the demo's own pipeline, play Scenarios 1-3, count dead letters, stop everything, print
// the summary. Exit code: 0 every expectation met, 1 one failed, 2 refused / bad usage.

export const EXIT = { ok: 0, failed: 1, refused: 2 } as const;

const SETUP = 'Setup';

/** What the demo prints when the connector halted: why, what it means, the command that lets it go on. */
export function connectorHaltMessage(halt: ConnectorHalt, afterMs: number): string {
  return [
    '',
    `regflow demo: FAILED after ${(afterMs / 1000).toFixed(1)} s: the DynamoDB Streams connector halted and writes nothing to Kafka.`,
    `  reason: ${halt.reason}`,
    '  This happens when Kafka kept the checkpoints of a stream the DynamoDB server no longer has',
    '  (e.g. after `npm run infra -- down` / `up`: moto starts empty, Kafka keeps its topics).',
    '  Accept the gap (changes of the old stream are lost; the new one is read from its start), then run the demo again:',
    '',
    `    ${halt.remedy}`,
    '',
  ].join('\n');
}

function apiBase(config: Readonly<Config>): string {
  if (config.api.port === 0)
    throw new UsageError('REGFLOW_API_PORT: the demo needs a fixed API port (it is 0, "any free port")');
  return `http://${config.api.host}:${config.api.port}`;
}

export async function runDemo(options: DemoOptions, out: Output): Promise<number> {
  const started = Date.now();
  const config = loadConfig();
  const runId = newRunId();
  const report = new Report(out);
  const api = new ApiClient(apiBase(config), config.api.jwtSecret);
  report.line(
    `regflow demo ${runId}: ${fmtInt(options.fans)} fans, ${fmtInt(options.winners)} winners (Scenarios 1-3 of the spec)`,
  );

  await report.stage(SETUP, 'services, topics, schemas', async (p) => {
    await prepareServices(config, (line) => p.update(line));
    p.counts('Kafka, registry, DynamoDB/S3, MongoDB, Redis up; topics and schemas as in the topology');
  });

  const kafka = createKafka(config.kafka);
  const admin = kafka.admin();
  await admin.connect();
  const mongo = createMongo(config.mongodb);
  await mongo.connect();
  const redis = createRedis(config.redis);
  const dynamo = createDynamoDb(config.dynamodb);
  const s3 = createS3(config.s3);
  const pipeline = new DemoPipeline(config.paths.dataDir, runId);
  const closeClients = async () => {
    await admin.disconnect().catch(() => {});
    await mongo.close().catch(() => {});
    redis.disconnect();
    dynamo.destroy();
    s3.destroy();
  };

  const others = await otherPipeline(config, admin, redis);
  if (others.length > 0) {
    report.line(
      [
        'regflow demo: another pipeline is running against these services:',
        ...others.map((o) => `  - ${o}`),
        'The demo runs a pipeline of its own (its notification stage needs processes on a simulated clock),',
        'and two pipelines on the same topics would split the partitions between them. Stop the other one',
        '(Ctrl-C in the terminal of `npm start`) and run the demo again.',
      ].join('\n'),
    );
    await closeClients();
    return EXIT.refused;
  }

  const ctx: DemoContext = {
    config,
    runId,
    options,
    report,
    api,
    kafka,
    admin,
    codec: new Codec(createSchemaRegistry(config.schemaRegistry)),
    db: mongo.db(config.mongodb.database),
    dynamo,
    s3,
    redis,
    pipeline,
    whereToLook: [],
    notes: [],
  };

  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    report.line('regflow demo: interrupted; stopping the pipeline');
    void pipeline.close().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const deadBefore = await deadLetterOffsets(admin);
  const rejectedBefore = await endOffsets(admin, REJECTED_TOPIC);
  const connectorPort = await freePort(config.runtime.httpHost);
  const play = async () => {
    await report.stage(SETUP, 'pipeline (supervised processes)', async (p) => {
      pipeline.start(systemComponents(config, { connectorPort }));
      const groups = [...systemProcessors(), ...SELECTION_PROCESSORS];
      const lease = `regflow:connector:${connectorIdOf(DEFAULT_CONNECTOR_NAME, config.dynamodb.demandTable)}:lease`;
      await until(
        'the pipeline to be ready',
        async () => {
          const ready = await readyGroups(admin, groups);
          const apiUp = await api.healthy();
          const connector = (await redis.exists(lease)) === 1;
          return {
            done: ready.size === groups.length && apiUp && connector,
            status: `${ready.size}/${groups.length} processors in their groups · API ${apiUp ? 'up' : 'starting'} · connector ${connector ? 'leading' : 'starting'}`,
          };
        },
        { timeoutMs: 180_000, progress: p.update },
      );
      p.counts(`${groups.length} processors, API, connector (log: ${pipeline.logFile})`);
    });

    const timeline = demoTimeline({
      now: new Date(),
      eligible: options.winners,
      sendRatePerHour: config.notifications.sendRatePerHour,
      ...(options.speed ? { speed: options.speed } : {}),
    });
    for (const [name, scenario] of [
      ['Scenario 1', () => runScenario1(ctx, timeline)],
      ['Scenario 2', () => runScenario2(ctx, timeline)],
      ['Scenario 3', () => runScenario3(ctx, timeline)],
    ] as const) {
      try {
        await scenario();
      } catch (err) {
        report.expect(name, 'runs to the end', false, describeError(err));
      }
    }
  };
  let halt: ConnectorHalt | undefined;
  try {
    // A halted connector would leave every later stage waiting for replication: stop at once.
    halt = await Promise.race([
      play().then(
        () => undefined,
        (err: unknown) => {
          report.expect(SETUP, 'the pipeline starts', false, describeError(err));
          return undefined;
        },
      ),
      pipeline.connectorHalted,
    ]);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (halt !== undefined) {
    report.line(`regflow demo: the DynamoDB Streams connector halted; stopping the pipeline`);
    // The scenario in hand keeps waiting in the background until the process exits: keep it quiet.
    report.mute();
    await pipeline.close();
    await closeClients();
    out.write(connectorHaltMessage(halt, Date.now() - started));
    return EXIT.failed;
  }

  const byTopic = await deadLettersSince(kafka, admin, deadBefore);
  // This run's stale rejections: keys hold the fan, values the campaign (the run id prefixes both).
  const rejected = (
    await recordsSince(kafka, admin, REJECTED_TOPIC, rejectedBefore, (r) =>
      (r.key?.toString('utf8') ?? '').includes(runId),
    )
  ).length;
  const restarts = pipeline.restarts();
  pipeline.sampleMemory();
  const memory = [...pipeline.memoryMb];
  await pipeline.close();
  await closeClients();

  const summary = {
    title: `regflow demo ${runId}`,
    stages: report.stages,
    checks: report.checks,
    deadLetters: { total: byTopic.reduce((a, d) => a + d.count, 0), byTopic },
    notes: [
      `changes rejected as stale during the run (entries.rejected): ${fmtInt(rejected)}`,
      `component restarts: ${restarts.length === 0 ? 'none' : restarts.map((r) => `${r.name} ${r.restarts}`).join(', ')}`,
      ...(memory.length > 0
        ? [
            `pipeline processes' resident memory (largest seen): ${memory.map(([n, mb]) => `${n} ${mb} MB`).join(', ')}; total ${memory.reduce((a, [, mb]) => a + mb, 0)} MB`,
          ]
        : []),
      ...ctx.notes,
    ],
    whereToLook: [
      ...ctx.whereToLook,
      "npx regflow topics list (every topic with its consumer groups' lag)",
      'npx regflow dlq list <processor> (dead letters, with their reason)',
      `${pipeline.logFile} (every component's JSON log lines)`,
    ],
    loadAverage: loadavg(),
    totalMs: Date.now() - started,
  };
  out.write(formatSummary(summary));
  return passed(summary) ? EXIT.ok : EXIT.failed;
}
