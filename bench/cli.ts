import { Command, InvalidArgumentError } from 'commander';
import { describeError } from '../lib/errors.ts';
import { benchConnector } from './connector.ts';
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
  .action(async (opts: { records: number; rounds: number }) => {
    await benchRuntime(opts);
    process.exit(0);
  });

program
  .command('connector')
  .description('DynamoDB Streams connector: catch-up records/s and write → Kafka lag at a steady rate')
  .option('--backlog <n>', 'items written before the connector starts', positive, 2_000)
  .option('--items <n>', 'items written at a steady rate while it runs', positive, 1_000)
  .option('--rate <n>', 'items per second of the steady phase', positive, 100)
  .action(async (opts: { backlog: number; items: number; rate: number }) => {
    await benchConnector(opts);
    process.exit(0);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`bench: ${describeError(err)}`);
  process.exit(1);
});
