import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { describeError } from '../lib/errors.ts';
import { formatTable } from '../lib/format.ts';
import { down, logFiles, type ServiceReport, status, up } from './stack.ts';

// `npm run infra -- up|down|status|logs [service...]`: the local services as processes.

function table(reports: ServiceReport[]): string {
  return formatTable(
    ['service', 'state', 'pid', 'memory', 'endpoint', 'what'],
    reports.map((r) => [
      r.name,
      r.state,
      r.pid === undefined ? '' : String(r.pid),
      r.rssMiB === undefined ? '' : `${r.rssMiB} MiB`,
      r.endpoint,
      r.describe,
    ]),
  );
}

const program = new Command('infra')
  .description('Start, stop and inspect the local services regflow runs on (no Docker needed).')
  .showHelpAfterError();

program
  .command('up')
  .description('start every service (or the named ones) unless already running; waits for health')
  .argument('[services...]', 'kafka, schema-registry, dynamodb, mongodb, redis')
  .option('--fresh', 'stop, wipe the data dir, then start')
  .action(async (services: string[], opts: { fresh?: boolean }) => {
    const config = loadConfig();
    const t0 = Date.now();
    const reports = await up(config, { services, fresh: opts.fresh ?? false });
    console.log(table(reports));
    console.log(
      `ready in ${((Date.now() - t0) / 1000).toFixed(1)}s; data and logs in ${config.paths.dataDir}`,
    );
  });

program
  .command('down')
  .description('stop the services this checkout started (pid files); nothing else')
  .argument('[services...]')
  .action(async (services: string[]) => {
    for (const r of await down(loadConfig(), { services })) {
      console.log(`${r.name.padEnd(16)} ${r.stopped ? 'stopped' : 'was not running'}`);
    }
  });

program
  .command('status')
  .description("each service's state, pid, memory and endpoint; exit 1 if any is not healthy")
  .argument('[services...]')
  .action(async (services: string[]) => {
    const reports = await status(loadConfig(), { services });
    console.log(table(reports));
    if (reports.some((r) => r.state !== 'running' && r.state !== 'external')) process.exitCode = 1;
  });

program
  .command('logs')
  .description('print (or follow) the services’ logs')
  .argument('[services...]')
  .option('-n, --lines <n>', 'lines from the end', '50')
  .option('-f, --follow', 'keep printing as they grow')
  .action((services: string[], opts: { lines: string; follow?: boolean }) => {
    const files = logFiles(loadConfig(), services).filter((f) => existsSync(f));
    if (files.length === 0) {
      console.log('no logs yet (run `npm run infra -- up` first)');
      return;
    }
    const args = ['-n', opts.lines, ...(opts.follow ? ['-F'] : []), ...files];
    spawn('tail', args, { stdio: 'inherit' }).on('exit', (code) => {
      process.exitCode = code ?? 0;
    });
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`infra: ${describeError(err)}`);
  process.exit(1);
});
