import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
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
import { freePort } from '../lib/ports.ts';
import { waitFor } from '../lib/retry.ts';
import { PROCESSORS } from '../processors/index.ts';
import { DemandTable } from '../stores/demand-table.ts';
import { pipelineStateFile } from '../supervisor/state.ts';
import { Supervisor } from '../supervisor/supervisor.ts';
import { dropDatabaseWhenQuiet } from '../test/support.ts';
import { topology } from '../topology/index.ts';
import { retryTopicName } from '../topology/types.ts';
import { benchEntry } from './replication.ts';

// `npm run bench -- pipeline-rss`: the resident memory of the pipeline `npm start` supervises —
// the same components with the same command lines (cli/start.ts pipelineComponents), started by
// the same Supervisor, measured by the same code as `npm run infra -- status` — with the HTTP
// ports moved to free ones and a MongoDB database, demand table and Redis prefix of its own, so it
// runs beside anyone else's processes. It joins the processors' real consumer groups, so it
// refuses to run while they have members (someone's pipeline is running). Samples every second
// for `samples` seconds after `settle` seconds of ready; prints the median and max per component.
// With --load N it then writes N registrations into its demand table (the connector, entry-filter,
// code-marker, entry-replicator, user-upserter and analytics-router handle them), waits until the
// entry store has them all, settles and samples again. With --breakdown each component also
// reports what node and V8 see (bench/memory-probe.mjs) and its TCP connections per service.

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

/**
 * The processors' groups with records still to handle (input and retry topics): the benchmark's
 * processors would handle someone else's records into the benchmark's own database and move the
 * real groups' offsets past them, and "idle" would not be idle.
 */
async function laggingGroups(config: Readonly<Config>): Promise<string[]> {
  const admin = createKafka(config.kafka).admin();
  await admin.connect();
  try {
    const out: string[] = [];
    for (const p of topology.processors) {
      const topics = [...p.inputs, ...p.retry.tierDelaysMs.map((_, i) => retryTopicName(p.name, i + 1))];
      let lag = 0;
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic).catch(() => []);
        const [committed] = await admin.fetchOffsets({ groupId: p.name, topics: [topic] });
        for (const end of ends) {
          const at = Number(committed?.partitions.find((c) => c.partition === end.partition)?.offset ?? -1);
          lag += Number(end.high) - Math.max(at, Number(end.low));
        }
      }
      if (lag > 0) out.push(`${p.name} (${lag})`);
    }
    return out;
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
  /** With `compiled`: another build's folder (e.g. an earlier commit's, to compare). */
  dist?: string;
  /** NODE_OPTIONS of the components (e.g. V8 heap flags). */
  nodeOptions?: string;
  /** Registrations written after the idle samples (0: idle only). */
  load?: number;
  /** Only these components (e.g. api, connector while someone's processors run). */
  only?: string[];
  /** Seconds between the load's end and its samples (default: settleSeconds). */
  loadedSettleSeconds?: number;
  /** Heap, external, handles and connections per component (a probe preloaded into each). */
  breakdown?: boolean;
}

const PROBE = join(REPO_ROOT, 'bench/memory-probe.mjs');
const SERVICE_PORTS: Record<string, string> = {
  '9092': 'kafka',
  '8081': 'registry',
  '4566': 'aws',
  '27017': 'mongodb',
  '6379': 'redis',
};
const mib = (bytes: number) => Math.round((bytes / 1_048_576) * 10) / 10;

/** Established TCP connections per process and service (from `ss`; own processes only). */
function connectionsByPid(): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  let text = '';
  try {
    text = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' });
  } catch {
    return out;
  }
  // Recv-Q Send-Q Local:Port Peer:Port users:(("node",pid=N,fd=F))
  for (const line of text.split('\n')) {
    const peer = line.trim().split(/\s+/)[3];
    const service = peer ? SERVICE_PORTS[peer.slice(peer.lastIndexOf(':') + 1)] : undefined;
    if (!service) continue;
    for (const m of line.matchAll(/pid=(\d+)/g)) {
      const pid = Number(m[1]);
      const counts = out.get(pid) ?? {};
      counts[service] = (counts[service] ?? 0) + 1;
      out.set(pid, counts);
    }
  }
  return out;
}

interface Probe {
  memory: NodeJS.MemoryUsage;
  heap: { totalPhysical: number; used: number; malloced: number };
  spaces: Record<string, { size: number; used: number; physical: number }>;
  resources: Record<string, number>;
}

function readProbe(dir: string, pid: number): Probe | null {
  try {
    return JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as Probe;
  } catch {
    return null;
  }
}

/** One line per component: what V8 and node hold, its handles and connections. */
function breakdownOf(dir: string, components: { name: string; pid?: number }[]) {
  const connections = connectionsByPid();
  return Object.fromEntries(
    components.map((c) => {
      const probe = c.pid === undefined ? null : readProbe(dir, c.pid);
      if (!probe) return [c.name, null];
      const space = (name: string) => probe.spaces[name];
      return [
        c.name,
        {
          rss: mib(probe.memory.rss),
          heapUsed: mib(probe.memory.heapUsed),
          heapTotal: mib(probe.memory.heapTotal),
          heapPhysical: mib(probe.heap.totalPhysical),
          newSpace: mib(space('new_space')?.physical ?? 0),
          oldSpace: mib(space('old_space')?.physical ?? 0),
          codeSpace: mib(space('code_space')?.physical ?? 0),
          external: mib(probe.memory.external),
          arrayBuffers: mib(probe.memory.arrayBuffers),
          malloced: mib(probe.heap.malloced),
          handles: probe.resources,
          connections: connections.get(c.pid!) ?? {},
        },
      ];
    }),
  );
}

export async function benchPipelineRss(opts: PipelineRssOptions): Promise<void> {
  const base = loadConfig();
  const included = (name: string) => !opts.only || opts.only.includes(name);
  // The processors join their real groups and the schedulers fire system-clock ticks on the real
  // scheduler.ticks: neither may run beside someone's pipeline (or a demo). The API and the
  // connector work on this run's own table, database and Redis prefix.
  const isolated = opts.only?.every((c) => c === 'api' || c === 'connector') ?? false;
  const busy = isolated ? [] : await liveGroups(base, Object.keys(PROCESSORS));
  if (busy.length > 0) {
    throw new Error(
      `consumer groups ${busy.join(', ')} have live members (a pipeline is running): not measuring`,
    );
  }
  const lagging = isolated ? [] : await laggingGroups(base);
  if (lagging.length > 0) {
    throw new Error(
      `consumer groups ${lagging.join(', ')} have records to handle: the benchmark would handle them into its own database (let the pipeline drain them first): not measuring`,
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
  const compiledEntry = join(opts.dist ?? join(REPO_ROOT, 'dist'), 'cli/regflow.js');
  if (opts.compiled && !existsSync(compiledEntry)) throw new Error('no dist/: run `npm run build` first');
  const probeDir = join(dataDir, 'probe');
  mkdirSync(probeDir, { recursive: true });
  const nodeOptions = [opts.nodeOptions, opts.breakdown ? `--import=${PROBE}` : undefined]
    .filter(Boolean)
    .join(' ');
  const components = pipelineComponents(config)
    .filter((c) => included(c.name))
    .map((c) => ({
      ...c,
      args: opts.compiled ? c.args.map((a) => (a.endsWith('bin/regflow.js') ? compiledEntry : a)) : c.args,
      env: {
        ...c.env,
        ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
        ...(opts.breakdown ? { REGFLOW_MEMORY_PROBE_DIR: probeDir } : {}),
      },
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
      ...(included('processors') ? [`http://127.0.0.1:${httpPort}/readyz`] : []),
      ...(included('connector') ? [`http://127.0.0.1:${httpPort + 2}/readyz`] : []),
      ...(included('api') ? [`http://127.0.0.1:${apiPort}/healthz`] : []),
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

    const sample = async (phase: string) => {
      const series = new Map<string, number[]>();
      const pssSeries = new Map<string, number[]>();
      let supervisorMiB = 0;
      let pids: { name: string; pid?: number }[] = [];
      for (let i = 0; i < opts.samples; i++) {
        const pipeline = pipelineMemory(config, processTable());
        if (!pipeline) throw new Error('the supervisor state file is missing');
        for (const c of pipeline.components)
          series.set(c.name, [...(series.get(c.name) ?? []), c.rssMiB ?? 0]);
        for (const c of pipeline.components)
          pssSeries.set(c.name, [...(pssSeries.get(c.name) ?? []), c.pssMiB ?? 0]);
        supervisorMiB = Math.max(supervisorMiB, pipeline.supervisorRssMiB ?? 0);
        pids = pipeline.components;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      const figures = Object.fromEntries(
        [...series].map(([name, xs]) => [
          name,
          { median: median(xs), max: Math.max(...xs), pss: median(pssSeries.get(name) ?? [0]) },
        ]),
      );
      console.log(`— ${phase}`);
      for (const [name, f] of Object.entries(figures))
        console.log(
          `${name.padEnd(11)} RSS median ${f.median} MiB, max ${f.max} MiB; PSS median ${f.pss} MiB`,
        );
      const pipelineMiB = Object.values(figures).reduce((a, f) => a + f.median, 0);
      const pipelineMaxMiB = Object.values(figures).reduce((a, f) => a + f.max, 0);
      const pipelinePssMiB = Object.values(figures).reduce((a, f) => a + f.pss, 0);
      const breakdown = opts.breakdown ? breakdownOf(probeDir, pids) : undefined;
      for (const [name, b] of Object.entries(breakdown ?? {}))
        console.log(`${name.padEnd(11)} ${JSON.stringify(b)}`);
      console.log(
        `${phase}: pipeline ${pipelineMiB} MiB (sum of medians; of maxima ${pipelineMaxMiB} MiB; goal ≤ ${PIPELINE_MEMORY_GOAL_MIB} MiB; PSS ${pipelinePssMiB} MiB), supervisor ${supervisorMiB} MiB`,
      );
      return {
        components: figures,
        pipeline: pipelineMiB,
        pipelineOfMaxima: pipelineMaxMiB,
        pipelinePss: pipelinePssMiB,
        supervisor: supervisorMiB,
        ...(breakdown ? { breakdown } : {}),
      };
    };

    const idle = await sample('idle');
    let loaded:
      | (Awaited<ReturnType<typeof sample>> & {
          registrations: number;
          seconds: number;
          settleSeconds: number;
        })
      | undefined;
    if (opts.load && !(included('api') && included('connector') && included('processors')))
      throw new Error('--load needs the api, the connector and the processors');
    if (opts.load) {
      const load = await applyLoad(config, opts.load, database);
      await new Promise((r) => setTimeout(r, (opts.loadedSettleSeconds ?? opts.settleSeconds) * 1_000));
      loaded = {
        ...load,
        settleSeconds: opts.loadedSettleSeconds ?? opts.settleSeconds,
        ...(await sample('loaded')),
      };
    }

    const services = await withServiceMemory(await status(base));
    const servicesMiB = memoryTotals(services, null).servicesMiB;
    for (const s of services)
      console.log(`${s.name.padEnd(16)} RSS ${s.rssMiB ?? '?'} MiB (pid ${s.pid ?? '?'})`);
    const last = loaded ?? idle;
    console.log(
      `services ${servicesMiB} MiB, total ${last.pipeline + last.supervisor + servicesMiB} MiB (${loaded ? 'loaded' : 'idle'} pipeline and supervisor)`,
    );
    console.log(
      `BENCH ${JSON.stringify({
        bench: 'pipeline-rss',
        unit: 'MiB',
        compiled: opts.compiled ?? false,
        dist: opts.compiled ? (opts.dist ?? 'dist') : null,
        nodeOptions: opts.nodeOptions ?? null,
        settleSeconds: opts.settleSeconds,
        samples: opts.samples,
        components: idle.components,
        pipeline: idle.pipeline,
        pipelineOfMaxima: idle.pipelineOfMaxima,
        pipelinePss: idle.pipelinePss,
        goal: PIPELINE_MEMORY_GOAL_MIB,
        supervisor: idle.supervisor,
        ...(idle.breakdown ? { breakdown: idle.breakdown } : {}),
        ...(loaded ? { loaded } : {}),
        services: Object.fromEntries(services.map((s) => [s.name, s.rssMiB ?? null])),
        servicesTotal: servicesMiB,
        total: last.pipeline + last.supervisor + servicesMiB,
        loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
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

/**
 * A modest load: N registrations written into the run's demand table (as the API writes them),
 * through the connector and the replication processors into the entry store, then on to
 * users.upserts and data.records (user-upserter, analytics-router). Resolves once the entry store
 * holds all N, and then the settle time again.
 */
async function applyLoad(config: Readonly<Config>, count: number, database: string) {
  const dynamo = createDynamoDb(config.dynamodb);
  const mongo = createMongo(config.mongodb);
  const table = new DemandTable(dynamo, config.dynamodb.demandTable);
  const campaign = `rss-${randomBytes(3).toString('hex')}`;
  const started = performance.now();
  try {
    await table.ensureTable();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          const i = next++;
          await table.putEntry(`rss-fan-${i}`, campaign, benchEntry(i, 'rss'));
        }
      }),
    );
    const written = (performance.now() - started) / 1000;
    const entries = mongo.db(database).collection('entries');
    const stored = await waitFor(async () => (await entries.countDocuments({})) >= count, {
      timeoutMs: 600_000,
      intervalMs: 2_000,
    });
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    if (!stored) throw new Error(`the entry store never held the ${count} registrations`);
    console.log(
      `load: ${count} registrations written in ${written.toFixed(1)} s, in the entry store after ${seconds} s`,
    );
    return { registrations: count, seconds };
  } finally {
    dynamo.destroy();
    await mongo.close();
  }
}
