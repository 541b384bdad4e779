import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { prettyFactory } from 'pino-pretty';
import { type Config, loadConfig, REPO_ROOT } from '../config/index.ts';
import { acceptRestartedLocalStream } from '../connectors/dynamodb-streams/operator.ts';
import { down, up } from '../infra/stack.ts';
import { createSchemaRegistry } from '../lib/clients.ts';
import { waitFor } from '../lib/retry.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import { pipelineStateFile } from '../supervisor/state.ts';
import { type Component, Supervisor } from '../supervisor/supervisor.ts';
import { ensureTopics } from '../topology/admin.ts';
import { allTopics } from '../topology/describe.ts';
import { topology } from '../topology/index.ts';
import { formatEnsureReport, withAdmin } from './topics.ts';
import { assertValidTopology } from './topology.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('bring up the local services and run the whole pipeline, supervised, until Ctrl-C')
    .action(async () => {
      assertValidTopology();
      const config = loadConfig();
      const reports = await up(config);
      for (const r of reports) console.log(`${r.name.padEnd(16)} ${r.state.padEnd(8)} ${r.endpoint}`);
      // Drift is reported, not fatal: the pipeline still runs on the topics as they are.
      const topics = await withAdmin((admin) => ensureTopics(admin, allTopics(topology)), config);
      for (const line of formatEnsureReport({ ...topics, ok: [] })) console.log(line);
      if (topics.ok.length > 0) console.log(`topics           ${topics.ok.length} as in the topology`);
      // Every declared topic's value schema, under `<topic>-value`, so producers outside regflow
      // (the external inputs) find it; the registry refuses one that breaks compatibility.
      const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
      for (const t of topology.topics) await codec.register(t.name, loadSchema(t.valueSchema));
      console.log(`schemas          ${topology.topics.length} registered (<topic>-value)`);
      const started = reports.filter((r) => r.state === 'started').map((r) => r.name);
      if (started.includes('dynamodb')) await acceptRestartedLocalStream({ config }, console.log);
      await runPipeline(config, compile(config));
      // Ctrl-C brings down what this command brought up: the services it started (not those that
      // were already running, e.g. from `npm run infra -- up`, which keeps them across starts).
      if (started.length > 0 && !config.keepInfra) {
        await down(config, { services: started });
        console.log(
          `stopped          ${started.join(', ')} (started by this command; \`npm run infra -- up\` before \`npm start\` keeps them running)`,
        );
      }
    });
}

/** Where `npm start` runs the pipeline from: the sources compiled by scripts/build.mjs. */
export const COMPILED_ENTRY = join(REPO_ROOT, 'dist/cli/regflow.js');

/**
 * Compiles the sources to dist/ (emit only, ~7 s; `npm test` type-checks): every pipeline process
 * then runs plain JavaScript instead of going through tsx's loader, which costs ~60 MiB a process
 * (pipeline 616-643 MiB compiled vs 787 MiB through tsx, `npm run bench -- pipeline-rss`).
 */
function compile(config: Readonly<Config>): (c: Component) => Component {
  const started = performance.now();
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs'), '--no-check'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  console.log(`compiled         dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return (c) => ({
    ...c,
    args: c.args.map((a) => (a.endsWith('bin/regflow.js') ? COMPILED_ENTRY : a)),
    // Compiled code finds the clone one folder further up: name the folders the config derives from it.
    env: { ...c.env, REGFLOW_DATA_DIR: config.paths.dataDir, REGFLOW_CACHE_DIR: config.paths.cacheDir },
  });
}

const regflow = (...args: string[]) => ({
  command: process.execPath,
  args: [join(REPO_ROOT, 'bin/regflow.js'), ...args],
});

/**
 * The pipeline's long-running parts, one supervised process each. Every processor shares one
 * process (`regflow run a b c`: one consumer group each, one set of clients), and the scheduler
 * replica runs in it too (`--with-schedulers`): a node process costs ~90 MiB before it does
 * anything (the binary, kafkajs, the registry client, pino…), the scheduler itself a few, so its
 * own process was most of the pipeline's memory over the 600 MiB goal (README: Memory). The API
 * and the connector keep their own processes: the fans' entry point and the ingestion path fail
 * and restart on their own. The processors are named from the topology (data), not from
 * processors/index.ts: importing every processor's code would cost the supervisor's own memory (a
 * test checks both list the same processors).
 */
export function pipelineComponents(config: Readonly<Config>): Component[] {
  const port = config.runtime.httpPort;
  const at = (p: number) => (port === 0 ? 0 : p);
  return [
    {
      name: 'processors',
      ...regflow('run', '--with-schedulers', ...topology.processors.map((p) => p.name)),
      env: { REGFLOW_HTTP_PORT: String(at(port)) },
      ...(port === 0 ? {} : { readyUrl: `http://${config.runtime.httpHost}:${port}/readyz` }),
    },
    {
      name: 'api',
      ...regflow('api'),
      ...(config.api.port === 0 ? {} : { readyUrl: `http://${config.api.host}:${config.api.port}/healthz` }),
    },
    // The DynamoDB Streams connector, on REGFLOW_DEMAND_TABLE; it waits (and says so) until the
    // table exists. Halted on a gap, its /readyz says why and how to go on: the supervisor shows it.
    {
      name: 'connector',
      ...regflow('connector', 'run'),
      env: { REGFLOW_HTTP_PORT: String(at(port + 2)) },
      ...(port === 0 ? {} : { readyUrl: `http://${config.runtime.httpHost}:${port + 2}/readyz` }),
    },
  ];
}

async function runPipeline(
  config: Readonly<Config>,
  adapt: (c: Component) => Component = (c) => c,
): Promise<void> {
  const components = pipelineComponents(config).map(adapt);
  // One stream: pretty in a terminal, the components' JSON lines as they are otherwise.
  const pretty = process.stdout.isTTY
    ? prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' })
    : null;
  const supervisor = new Supervisor(components, {
    // `npm run infra -- status` finds the pipeline's processes (and their memory) through it.
    stateFile: pipelineStateFile(config.paths.dataDir),
    // A component that stops being ready (a halted connector: why, and the command that lets it go
    // on) shows in the log within seconds, and in `npm run infra -- status`.
    readinessIntervalMs: 5_000,
    onLine: (name, line) => {
      if (pretty && line.startsWith('{')) process.stdout.write(`${name.padEnd(11)} ${pretty(line)}`);
      else if (pretty) process.stdout.write(`${name.padEnd(11)} ${line}\n`);
      else
        process.stdout.write(
          `${line.startsWith('{') ? line.replace(/^\{/, `{"component":"${name}",`) : JSON.stringify({ component: name, msg: line })}\n`,
        );
    },
    onEvent: (name, event) =>
      process.stdout.write(
        pretty
          ? `${name.padEnd(11)} [supervisor] ${event}\n`
          : `${JSON.stringify({ component: name, supervisor: event })}\n`,
      ),
  });
  for (const c of components) {
    console.log(
      `${c.name.padEnd(16)} ${[c.args.slice(1).join(' '), c.readyUrl?.replace('/readyz', '/metrics')].filter(Boolean).join('  ')}`,
    );
  }
  console.log(
    'inspect          npx regflow topics list | npx regflow tail <topic> | npx regflow dlq list <processor>',
  );
  console.log('stop             Ctrl-C (stops every component cleanly)');
  supervisor.start();
  void Promise.all(
    components.map(async (c) => {
      if (!c.readyUrl) return;
      const url = c.readyUrl;
      if (await waitFor(async () => (await fetch(url)).ok, { timeoutMs: 180_000, intervalMs: 1_000 })) {
        console.log(`ready            ${c.name} (${url})`);
      }
    }),
  );
  // npm and tsx relay a Ctrl-C too, so this process can see one signal several times: stop once.
  const stopped = new Promise<void>((resolve) => {
    const stop = () => void supervisor.stop().then(resolve);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await stopped;
  console.log('stopped          every component has exited');
}
