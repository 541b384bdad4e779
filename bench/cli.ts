import { Command, InvalidArgumentError } from 'commander';
import { describeError } from '../lib/errors.ts';
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
  .command('selection')
  .description('Scenario 1 end to end (request → verdicts and codes) vs the stores written by a plain loop')
  .option('--fans <n>', 'scored entries', positive, 50_000)
  .option('--winners <n>', 'winners (and codes)', positive, 500)
  .action(async (opts: { fans: number; winners: number }) => {
    await benchSelection(opts);
    process.exit(0);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`bench: ${describeError(err)}`);
  process.exit(1);
});
