import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { UsageError } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { PROCESSORS } from '../processors/index.ts';
import { runProcessors } from '../runtime/run-processor.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'run one or more processors in this process until SIGTERM / SIGINT (one HTTP endpoint, shared clients)',
    )
    .option(
      '--clock <spec>',
      'the clock time decisions read: system, or simulated:<ISO start>[,speed=N][,anchor=EPOCH_MS] (default: REGFLOW_CLOCK)',
    )
    .option(
      '--with-schedulers',
      'also run one scheduler replica in this process (`regflow schedulers run`, on the same clock)',
    )
    .argument('<processor...>', `one or more of: ${Object.keys(PROCESSORS).join(', ')}`)
    .action(async (names: string[], opts: { clock?: string; withSchedulers?: boolean }) => {
      const unknown = names.filter((n) => !PROCESSORS[n]);
      if (unknown.length > 0) {
        throw new UsageError(
          `unknown processor ${unknown.map((n) => `'${n}'`).join(', ')} (known: ${Object.keys(PROCESSORS).join(', ')})`,
        );
      }
      if (new Set(names).size !== names.length) throw new UsageError('a processor is named twice');
      const config = loadConfig(
        opts.clock === undefined ? process.env : { ...process.env, REGFLOW_CLOCK: opts.clock },
      );
      const logger = createLogger(config.logLevel);
      const running = await runProcessors({
        config,
        definitions: names.map((n) => PROCESSORS[n]!()),
        logger,
      });
      // Beside the processors (npm start): one process less, the same replica as its own process would run.
      const schedulers = opts.withSchedulers
        ? await (await import('./schedulers.ts'))
            .startSchedulerReplica(config, logger)
            .catch(async (err: unknown) => {
              await running.stop();
              throw err;
            })
        : undefined;
      const parts = [running, ...(schedulers ? [schedulers] : [])];
      let signals = 0;
      const shutdown = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          logger.warn({ processors: names, signal }, 'second signal: exiting without a graceful stop');
          process.exit(130);
        }
        logger.info(
          { processors: names, signal },
          'stopping: finishing the transactions in hand, then leaving the groups',
        );
        for (const part of parts) void part.stop();
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      try {
        await Promise.all(parts.map((p) => p.done));
      } catch (err) {
        // One part failed for good: stop the other gracefully, then exit non-zero (a supervisor restarts us).
        await Promise.allSettled(parts.map((p) => p.stop()));
        throw err;
      }
    });
}
