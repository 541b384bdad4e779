import type { Command } from 'commander';
import type { Logger } from 'pino';
import { type Config, loadConfig } from '../config/index.ts';
import { runSchedulerReplica } from '../connectors/schedulers/index.ts';
import { DEFAULT_SIM_PREFIX, SIM_PREFIX_NONE, schedulerNamesFor } from '../connectors/schedulers/names.ts';
import type { RunningScheduler } from '../connectors/schedulers/scheduler.ts';
import { DEFAULT_TICK_LOG_NAMES } from '../connectors/schedulers/tick-log.ts';
import { parseClock, systemClock } from '../lib/clock.ts';
import { createLogger } from '../lib/logger.ts';

export interface SchedulerReplicaOptions {
  clock?: string;
  replicaId?: string;
  simPrefix?: string;
}

/** One scheduler replica in this process (`regflow schedulers run`, or beside the processors: `regflow run --with-schedulers`). */
export async function startSchedulerReplica(
  config: Readonly<Config>,
  logger: Logger,
  opts: SchedulerReplicaOptions = {},
): Promise<RunningScheduler> {
  const clock = parseClock(opts.clock ?? config.runtime.clock, opts.clock ? '--clock' : 'REGFLOW_CLOCK');
  const { names, leasePrefix } = schedulerNamesFor(clock, opts.simPrefix ?? DEFAULT_SIM_PREFIX);
  if (clock !== systemClock && names.topic === DEFAULT_TICK_LOG_NAMES.topic)
    logger.warn(
      { topic: names.topic, transactionalId: names.transactionalId, stateGroup: names.stateGroup },
      'simulated ticks on the real tick topic (--sim-prefix none): scheduler-jobs acts on them; do not run beside system-clock schedulers',
    );
  return runSchedulerReplica({
    config,
    clock,
    logger,
    replicaId: opts.replicaId,
    names,
    leasePrefix,
  });
}

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
      `with a simulated clock: prefix of the tick topic, transactional id, state group and lease (simulated ticks never mix with real ones); "${SIM_PREFIX_NONE}": ticks on the real scheduler.ticks that scheduler-jobs reads (a demo on a simulated clock; the state stays apart, per time line)`,
      DEFAULT_SIM_PREFIX,
    )
    .action(async (opts: SchedulerReplicaOptions) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const running = await startSchedulerReplica(config, logger, opts);
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
