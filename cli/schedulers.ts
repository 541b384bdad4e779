import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { runSchedulerReplica } from '../connectors/schedulers/index.ts';
import { parseClock } from '../lib/clock.ts';
import { createLogger } from '../lib/logger.ts';

export function registerSchedulers(program: Command): void {
  const schedulers = program
    .command('schedulers')
    .description('the cron schedulers (plan-sends, markets-to-notify, reminder-emails)');
  schedulers
    .command('run')
    .description(
      'run one scheduler replica until SIGTERM / SIGINT; any number may run, each tick fires once across them',
    )
    .option(
      '--clock <spec>',
      'system, or simulated:<ISO start>[,speed=N][,anchor=EPOCH_MS] (speed 1440 = a day per minute; replicas with the same anchor share one time line)',
      'system',
    )
    .option('--replica-id <id>', 'name of this replica in logs and ticks (default: host-pid)')
    .action(async (opts: { clock: string; replicaId?: string }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const clock = parseClock(opts.clock);
      const running = await runSchedulerReplica({ config, clock, logger, replicaId: opts.replicaId });
      let signals = 0;
      const shutdown = (signal: NodeJS.Signals) => {
        if (++signals > 1) process.exit(130);
        logger.info(
          { signal },
          'scheduler: stopping: finishing the transaction in hand, releasing the lease',
        );
        void running.stop();
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      await running.done;
    });
}
