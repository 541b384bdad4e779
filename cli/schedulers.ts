import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { runSchedulerReplica } from '../connectors/schedulers/index.ts';
import { DEFAULT_TICK_LOG_NAMES } from '../connectors/schedulers/tick-log.ts';
import { parseClock, systemClock } from '../lib/clock.ts';
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
      'system, or simulated:<ISO start>[,speed=N][,anchor=EPOCH_MS] (speed 1440 = a day per minute; replicas with the same anchor share one time line; default: REGFLOW_CLOCK)',
    )
    .option('--replica-id <id>', 'name of this replica in logs and ticks (default: host-pid)')
    .option(
      '--sim-prefix <name>',
      'with a simulated clock: prefix of the tick topic, transactional id, state group and lease (simulated ticks never mix with real ones)',
      'simulated',
    )
    .action(async (opts: { clock?: string; replicaId?: string; simPrefix: string }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const clock = parseClock(opts.clock ?? config.runtime.clock, opts.clock ? '--clock' : 'REGFLOW_CLOCK');
      const simulated = clock !== systemClock;
      const p = opts.simPrefix;
      const running = await runSchedulerReplica({
        config,
        clock,
        logger,
        replicaId: opts.replicaId,
        ...(simulated
          ? {
              names: {
                topic: `${p}.${DEFAULT_TICK_LOG_NAMES.topic}`,
                transactionalId: `${p}-${DEFAULT_TICK_LOG_NAMES.transactionalId}`,
                stateGroup: `${p}-${DEFAULT_TICK_LOG_NAMES.stateGroup}`,
              },
              leasePrefix: `${p}:scheduler`,
            }
          : {}),
      });
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
