import { Command, InvalidArgumentError } from 'commander';
import { describeError } from '../lib/errors.ts';
import { benchRegistration } from './registration.ts';
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

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`bench: ${describeError(err)}`);
  process.exit(1);
});
