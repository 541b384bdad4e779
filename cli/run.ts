import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { UsageError } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { PROCESSORS } from '../processors/index.ts';
import { runProcessor } from '../runtime/run-processor.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run one processor in this process until SIGTERM / SIGINT')
    .argument('<processor>', `one of: ${Object.keys(PROCESSORS).join(', ')}`)
    .action(async (name: string) => {
      const make = PROCESSORS[name];
      if (!make)
        throw new UsageError(`unknown processor '${name}' (known: ${Object.keys(PROCESSORS).join(', ')})`);
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const running = await runProcessor({ config, definition: make(), logger });
      let signals = 0;
      const shutdown = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          logger.warn({ processor: name, signal }, 'second signal: exiting without a graceful stop');
          process.exit(130);
        }
        logger.info(
          { processor: name, signal },
          'stopping: finishing the transaction in hand, then leaving the group',
        );
        void running.stop();
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      await running.done;
    });
}
