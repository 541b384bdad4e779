import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { up } from '../infra/stack.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('bring up the local services and run the pipeline on its local defaults')
    .action(async () => {
      const config = loadConfig();
      const reports = await up(config);
      for (const r of reports) console.log(`${r.name.padEnd(16)} ${r.state.padEnd(8)} ${r.endpoint}`);
    });
}
