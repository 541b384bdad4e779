import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { pipelineComponents } from '../cli/start.ts';
import { type Config, loadConfig, REPO_ROOT } from '../config/index.ts';
import {
  memoryTotals,
  PIPELINE_MEMORY_GOAL_MIB,
  pipelineMemory,
  processTable,
  withServiceMemory,
} from '../infra/memory.ts';
import { status } from '../infra/stack.ts';
import { createDynamoDb, createKafka, createMongo } from '../lib/clients.ts';
import { waitFor } from '../lib/retry.ts';
import { PROCESSORS } from '../processors/index.ts';
import { pipelineStateFile } from '../supervisor/state.ts';
import { Supervisor } from '../supervisor/supervisor.ts';
import { dropDatabaseWhenQuiet } from '../test/support.ts';

// `npm run bench -- pipeline-rss`: the resident memory of the pipeline `npm start` supervises —
// the same components with the same command lines (cli/start.ts pipelineComponents), started by
// the same Supervisor, measured by the same code as `npm run infra -- status` — with the HTTP
// ports moved to free ones and a MongoDB database, demand table and Redis prefix of its own, so it
// runs beside anyone else's processes. It joins the processors' real consumer groups, so it
// refuses to run while they have members (someone's pipeline is running). Samples every second
// for `samples` seconds after `settle` seconds of ready; prints the median and max per component.

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

async function portsFree(first: number, count: number): Promise<boolean> {
  for (let p = first; p < first + count; p++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(p, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

async function liveGroups(config: Readonly<Config>, groups: string[]): Promise<string[]> {
  const admin = createKafka(config.kafka).admin();
  await admin.connect();
  try {
    const { groups: described } = await admin.describeGroups(groups);
    return described.filter((g) => g.members.length > 0).map((g) => g.groupId);
  } finally {
    await admin.disconnect();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
};

export interface PipelineRssOptions {
  settleSeconds: number;
  samples: number;
  /** Run the components from `npm run build`'s dist/ (what the image runs) instead of through tsx. */
  compiled?: boolean;
  /** NODE_OPTIONS of the components (e.g. V8 heap flags). */
  nodeOptions?: string;
}

export async function benchPipelineRss(opts: PipelineRssOptions): Promise<void> {
  const base = loadConfig();
  const busy = await liveGroups(base, Object.keys(PROCESSORS));
  if (busy.length > 0) {
    throw new Error(
      `consumer groups ${busy.join(', ')} have live members (a pipeline is running): not measuring`,
    );
  }
  let httpPort = await freePort();
  while (!(await portsFree(httpPort, 3))) httpPort = await freePort();
  const apiPort = await freePort();
  const suffix = randomBytes(3).toString('hex');
  const dataDir = mkdtempSync(join(tmpdir(), 'regflow-pipeline-rss-'));
  const database = `regflow_rss_${suffix}`;
  const mongoUrl = new URL(base.mongodb.url);
  mongoUrl.pathname = `/${database}`;
  Object.assign(process.env, {
    REGFLOW_HTTP_PORT: String(httpPort),
    REGFLOW_API_PORT: String(apiPort),
    REGFLOW_DATA_DIR: dataDir,
    REGFLOW_MONGODB_URL: mongoUrl.toString(),
    REGFLOW_DEMAND_TABLE: `rss-${suffix}`,
    REGFLOW_REDIS_PREFIX: `rss-${suffix}:`,
    REGFLOW_LOG_LEVEL: 'warn',
  });
  const config = loadConfig();
  const compiledEntry = join(REPO_ROOT, 'dist/cli/regflow.js');
  if (opts.compiled && !existsSync(compiledEntry)) throw new Error('no dist/: run `npm run build` first');
  const components = pipelineComponents(config).map((c) => ({
    ...c,
    args: opts.compiled ? c.args.map((a) => (a.endsWith('bin/regflow.js') ? compiledEntry : a)) : c.args,
    env: { ...c.env, ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}) },
  }));
  const errors: string[] = [];
  const supervisor = new Supervisor(components, {
    onLine: (name, line) => {
      if (!line.startsWith('{') || /"level":(50|60)/.test(line))
        errors.push(`${name}: ${line.slice(0, 300)}`);
    },
    onEvent: (name, event) => console.log(`${name.padEnd(11)} ${event}`),
    stopGraceMs: 20_000,
    stateFile: pipelineStateFile(dataDir),
  });
  const t0 = Date.now();
  supervisor.start();
  try {
    const readyUrls = [
      `http://127.0.0.1:${httpPort}/readyz`,
      `http://127.0.0.1:${httpPort + 2}/readyz`,
      `http://127.0.0.1:${apiPort}/healthz`,
    ];
    const ready = await waitFor(
      async () =>
        (
          await Promise.all(
            readyUrls.map((u) =>
              fetch(u).then(
                (r) => r.ok,
                () => false,
              ),
            ),
          )
        ).every(Boolean),
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    if (!ready) throw new Error(`the pipeline did not become ready:\n${errors.slice(-5).join('\n')}`);
    console.log(`ready after ${((Date.now() - t0) / 1000).toFixed(1)} s; settling ${opts.settleSeconds} s`);
    await new Promise((r) => setTimeout(r, opts.settleSeconds * 1_000));

    const series = new Map<string, number[]>();
    let supervisorMiB = 0;
    for (let i = 0; i < opts.samples; i++) {
      const pipeline = pipelineMemory(config, processTable());
      if (!pipeline) throw new Error('the supervisor state file is missing');
      for (const c of pipeline.components) series.set(c.name, [...(series.get(c.name) ?? []), c.rssMiB ?? 0]);
      supervisorMiB = Math.max(supervisorMiB, pipeline.supervisorRssMiB ?? 0);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const figures = Object.fromEntries(
      [...series].map(([name, xs]) => [name, { median: median(xs), max: Math.max(...xs) }]),
    );
    for (const [name, f] of Object.entries(figures))
      console.log(`${name.padEnd(11)} RSS median ${f.median} MiB, max ${f.max} MiB`);
    const pipelineMiB = Object.values(figures).reduce((a, f) => a + f.median, 0);
    const pipelineMaxMiB = Object.values(figures).reduce((a, f) => a + f.max, 0);
    const services = await withServiceMemory(await status(base));
    const servicesMiB = memoryTotals(services, null).servicesMiB;
    for (const s of services)
      console.log(`${s.name.padEnd(16)} RSS ${s.rssMiB ?? '?'} MiB (pid ${s.pid ?? '?'})`);
    console.log(
      `pipeline ${pipelineMiB} MiB (sum of medians; of maxima ${pipelineMaxMiB} MiB; goal ≤ ${PIPELINE_MEMORY_GOAL_MIB} MiB), supervisor ${supervisorMiB} MiB, services ${servicesMiB} MiB, total ${pipelineMiB + supervisorMiB + servicesMiB} MiB`,
    );
    console.log(
      `BENCH ${JSON.stringify({
        bench: 'pipeline-rss',
        unit: 'MiB',
        compiled: opts.compiled ?? false,
        nodeOptions: opts.nodeOptions ?? null,
        settleSeconds: opts.settleSeconds,
        samples: opts.samples,
        components: figures,
        pipeline: pipelineMiB,
        pipelineOfMaxima: pipelineMaxMiB,
        goal: PIPELINE_MEMORY_GOAL_MIB,
        supervisor: supervisorMiB,
        services: Object.fromEntries(services.map((s) => [s.name, s.rssMiB ?? null])),
        servicesTotal: servicesMiB,
        total: pipelineMiB + supervisorMiB + servicesMiB,
      })}`,
    );
  } finally {
    await supervisor.stop();
    rmSync(dataDir, { recursive: true, force: true });
    // What this run created: its database and its demand table (the API creates the table).
    const mongo = createMongo(config.mongodb);
    await dropDatabaseWhenQuiet(mongo.db(database));
    await mongo.close();
    const dynamo = createDynamoDb(config.dynamodb);
    await dynamo.send(new DeleteTableCommand({ TableName: config.dynamodb.demandTable })).catch(() => {});
    dynamo.destroy();
  }
}
