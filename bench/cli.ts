import { Command, InvalidArgumentError } from 'commander';
import { describeError } from '../lib/errors.ts';
import { benchReplication } from './replication.ts';
import { benchRss } from './rss.ts';
import { benchRuntime } from './runtime.ts';

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
  .command('replication')
  .description(
    'replication lag: DynamoDB write → visible in the entry store, connector and processors as child processes',
  )
  .option('--count <n>', 'registrations written', positive, 10_000)
  .option('--rate <n>', 'registrations per second (steady)', positive, 50)
  .option('--poll <ms>', 'entry-store poll interval', positive, 50)
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

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`bench: ${describeError(err)}`);
  process.exit(1);
});
