import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_IDLE_REFRESH_MS } from '../connectors/dynamodb-streams/connector.ts';
import { describeError } from '../lib/errors.ts';
import { benchAnalytics } from './analytics.ts';
import { benchConnector } from './connector.ts';
import { benchNotifications } from './notifications.ts';
import { benchPipelineRss } from './pipeline-rss.ts';
import { benchRegistration } from './registration.ts';
import { benchReplication } from './replication.ts';
import { benchRss } from './rss.ts';
import { benchRuntime } from './runtime.ts';
import { benchSelection } from './selection.ts';

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
};

const program = new Command('bench').description('regflow benchmarks (they print their numbers)');
program
  .command('runtime')
  .description('the echo processor under the runtime (EOS) vs a bare kafkajs consume→produce loop')
  .option('--records <n>', 'records per round', positive, 30_000)
  .option('--rounds <n>', 'rounds per contestant', positive, 3)
  .option('--steady', 'steady state: 500,000 records per round (overrides --records)')
  .action(async (opts: { records: number; rounds: number; steady?: boolean }) => {
    await benchRuntime({ records: opts.steady ? 500_000 : opts.records, rounds: opts.rounds });
    process.exit(0);
  });

program
  .command('rss')
  .description('resident memory of idle processor processes: each processor alone, then all in one')
  .option('--rounds <n>', 'starts per configuration (median reported)', positive, 3)
  .option('--settle <seconds>', 'seconds after ready before reading RSS', positive, 5)
  .action(async (opts: { rounds: number; settle: number }) => {
    await benchRss({ rounds: opts.rounds, settleSeconds: opts.settle });
    process.exit(0);
  });

program
  .command('pipeline-rss')
  .description(
    "resident memory of the pipeline npm start supervises (its real command lines), and the services'",
  )
  .option('--settle <seconds>', 'seconds after ready before sampling', positive, 10)
  .option('--samples <n>', 'samples, one a second (median and max reported)', positive, 10)
  .option(
    '--compiled',
    "run the components from npm run build's dist/ (as the image does) instead of through tsx",
  )
  .option('--node-options <flags>', 'NODE_OPTIONS of the components, e.g. --max-semi-space-size=2')
  .option('--dist <dir>', 'with --compiled: run another build (e.g. an earlier commit, to compare)')
  .option('--load <n>', 'then write N registrations through the pipeline and sample again', positive)
  .option(
    '--loaded-settle <seconds>',
    'seconds between the load and its samples (default: --settle)',
    positive,
  )
  .option(
    '--only <components>',
    'only these components, comma-separated (e.g. api,connector,schedulers)',
    (v) => v.split(','),
  )
  .option('--breakdown', 'heap, external, handles and connections per component (a preloaded probe)')
  .action(
    async (opts: {
      settle: number;
      samples: number;
      compiled?: boolean;
      dist?: string;
      nodeOptions?: string;
      load?: number;
      loadedSettle?: number;
      only?: string[];
      breakdown?: boolean;
    }) => {
      await benchPipelineRss({ ...opts, settleSeconds: opts.settle, loadedSettleSeconds: opts.loadedSettle });
      process.exit(0);
    },
  );

program
  .command('analytics')
  .description(
    'analytics-router (EOS) on a mix of the five types + 1% invalid vs echo pass-through on the same records',
  )
  .option('--records <n>', 'records per round', positive, 50_000)
  .option('--rounds <n>', 'rounds per contestant', positive, 3)
  .option('--cpu-prof-dir <dir>', 'write a V8 CPU profile of each contestant process there')
  .action(async (opts: { records: number; rounds: number; cpuProfDir?: string }) => {
    await benchAnalytics(opts);
    process.exit(0);
  });

program
  .command('registration')
  .description('registration API: refused path (cached campaign) and write path next to a raw PutItem loop')
  .option('--duration <s>', 'seconds per phase', positive, 10)
  .option('--connections <n>', 'concurrent connections on the refused path', positive, 20)
  .option('--write-connections <n>', 'concurrency of the write path and the raw PutItem loop', positive, 16)
  .option('--rounds <n>', 'write-path phases, each between raw PutItem phases', positive, 2)
  .action(
    async (opts: { duration: number; connections: number; writeConnections: number; rounds: number }) => {
      await benchRegistration(opts);
      process.exit(0);
    },
  );

program
  .command('replication')
  .description(
    'replication lag: DynamoDB write → visible in the entry store, connector and processors as child processes',
  )
  .option('--count <n>', 'registrations written', positive, 10_000)
  .option('--rate <n>', 'registrations per second (steady)', positive, 50)
  .option(
    '--poll <ms>',
    'entry-store poll interval (each round looks up the 4 oldest pending sampled fans)',
    positive,
    200,
  )
  .option('--connector-poll <ms>', "connector's idle GetRecords interval (its default: 500)", positive, 500)
  .option('--concurrency <n>', 'partitions each processor handles at once (of 6)', positive, 6)
  .action(
    async (opts: {
      count: number;
      rate: number;
      poll: number;
      connectorPoll: number;
      concurrency: number;
    }) => {
      await benchReplication({
        count: opts.count,
        rate: opts.rate,
        pollMs: opts.poll,
        connectorPollMs: opts.connectorPoll,
        concurrency: opts.concurrency,
      });
      process.exit(0);
    },
  );

program
  .command('connector')
  .description('DynamoDB Streams connector: catch-up records/s and write → Kafka lag at a steady rate')
  .option('--backlog <n>', 'items written before the connector starts', positive, 2_000)
  .option('--items <n>', 'items written at a steady rate while it runs', positive, 1_000)
  .option('--rate <n>', 'items per second of the steady phase', positive, 100)
  .option(
    '--idle-refresh <ms>',
    "connector's idle checkpoint refresh (300000: as before it existed)",
    positive,
    DEFAULT_IDLE_REFRESH_MS,
  )
  .action(async (opts: { backlog: number; items: number; rate: number; idleRefresh: number }) => {
    await benchConnector(opts);
    process.exit(0);
  });

program
  .command('notifications')
  .description('reminder generation for one market vs the raw DynamoDB BatchWriteItem rate (the limit)')
  .option('--fans <n>', 'eligible winners of the market', positive, 100_000)
  .option(
    '--concurrency <n>',
    'BatchWriteItem requests in flight (generator and raw loop alike)',
    positive,
    16,
  )
  .action(async (opts: { fans: number; concurrency: number }) => {
    await benchNotifications(opts);
    process.exit(0);
  });

program
  .command('selection')
  .description('Scenario 1 end to end (request → verdicts and codes) vs the stores written by a plain loop')
  .option('--fans <n>', 'scored entries', positive, 50_000)
  .option('--winners <n>', 'winners (and codes)', positive, 500)
  .option('--planner-only', 'only the planner; the DynamoDB store limit projected from 10,000 writes')
  .option('--max-minutes <n>', 'report the run incomplete after this long', positive, 30)
  .option('--page-size <n>', "the planner's rows per page of losers (default: the processor's)", positive)
  .option('--no-store-limit', 'skip the plain-loop store limit after the run')
  .option('--reuse-db <name>', 'a database a killed earlier run left seeded: no seeding (dropped at the end)')
  .option(
    '--compiled',
    'run the processors as JavaScript compiled by tsc (as `npm start` does), not through tsx',
  )
  .action(
    async (opts: {
      fans: number;
      winners: number;
      plannerOnly?: boolean;
      maxMinutes: number;
      pageSize?: number;
      storeLimit: boolean;
      reuseDb?: string;
      compiled?: boolean;
    }) => {
      await benchSelection(opts);
      process.exit(0);
    },
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`bench: ${describeError(err)}`);
  process.exit(1);
});
