import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { describeError } from '../lib/errors.ts';
import { formatTable } from '../lib/format.ts';
import { KAFKA_TOOLS, runKafkaTool } from './kafka-tools.ts';
import {
  memoryTotals,
  PIPELINE_MEMORY_GOAL_MIB,
  type PipelineMemory,
  pipelineMemory,
  processTable,
  withServiceMemory,
} from './memory.ts';
import { down, logFiles, type ServiceReport, status, up } from './stack.ts';

// `npm run infra -- up|down|status|logs [service...]`: the local services as processes.

const mib = (n: number | undefined) => (n === undefined ? '' : `${n} MiB`);

function servicesTable(reports: ServiceReport[]): string {
  return formatTable(
    ['service', 'state', 'pid', 'memory', 'endpoint', 'what'],
    reports.map((r) => [
      r.name,
      r.state,
      r.pid === undefined ? '' : String(r.pid),
      mib(r.rssMiB),
      r.endpoint,
      r.describe,
    ]),
  );
}

function pipelineTable(pipeline: PipelineMemory): string {
  return formatTable(
    ['component', 'state', 'pid', 'restarts', 'memory (RSS)', 'PSS'],
    pipeline.components.map((c) => [
      c.name,
      c.state,
      c.pid === undefined ? '' : String(c.pid),
      String(c.restarts),
      mib(c.rssMiB),
      mib(c.pssMiB),
    ]),
  );
}

const program = new Command('infra')
  .description('Start, stop and inspect the local services regflow runs on (no Docker needed).')
  .showHelpAfterError()
  .enablePositionalOptions();

program
  .command('up')
  .description('start every service (or the named ones) unless already running; waits for health')
  .argument('[services...]', 'kafka, schema-registry, dynamodb, mongodb, redis')
  .option('--fresh', 'stop, wipe the data dir, then start')
  .action(async (services: string[], opts: { fresh?: boolean }) => {
    const config = loadConfig();
    const t0 = Date.now();
    const reports = await up(config, { services, fresh: opts.fresh ?? false });
    console.log(servicesTable(reports));
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
  .description(
    "each service's state, pid, memory and endpoint, then the pipeline's processes (npm start) and the memory totals; exit 1 if a service is not healthy",
  )
  .argument('[services...]')
  .action(async (services: string[]) => {
    const config = loadConfig();
    const procs = processTable();
    const reports = await withServiceMemory(await status(config, { services }), procs);
    console.log(servicesTable(reports));
    const pipeline = pipelineMemory(config, procs);
    console.log('');
    if (pipeline) {
      console.log(
        `pipeline (npm start, supervisor pid ${pipeline.supervisorPid}, since ${pipeline.startedAt})`,
      );
      console.log(pipelineTable(pipeline));
      // What a component's /readyz says when it is not ready (a halted connector: why, and the remedy).
      for (const c of pipeline.components)
        if (c.readiness !== undefined && c.readiness !== 'ready') console.log(`${c.name}: ${c.readiness}`);
    } else {
      console.log('pipeline: not running from this checkout (`npm start` starts it)');
    }
    const t = memoryTotals(reports, pipeline);
    const goal = t.pipelineMiB <= PIPELINE_MEMORY_GOAL_MIB ? 'within' : 'OVER';
    console.log(
      [
        `memory (RSS): services ${t.servicesMiB} MiB`,
        `pipeline ${t.pipelineMiB} MiB (${goal} the ${PIPELINE_MEMORY_GOAL_MIB} MiB goal${t.pipelinePssMiB === undefined ? '' : `; PSS ${t.pipelinePssMiB} MiB`})`,
        `supervisor ${t.supervisorMiB} MiB`,
        `total ${t.totalMiB} MiB`,
      ].join(' · '),
    );
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

program
  .command('kafka')
  .description(
    "run one of Apache Kafka's own command-line tools (kafka-<tool>.sh) against REGFLOW_KAFKA_BROKERS; its jars are resolved on first use",
  )
  .argument('<tool>', Object.keys(KAFKA_TOOLS).join(', '))
  .argument('[args...]', "the tool's own arguments (--bootstrap-server is added when missing)")
  .passThroughOptions()
  .action(async (tool: string, args: string[]) => {
    process.exitCode = await runKafkaTool(loadConfig(), tool, args);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`infra: ${describeError(err)}`);
  process.exit(1);
});
