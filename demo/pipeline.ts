import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import { withAdmin } from '../cli/topics.ts';
import { type Config, REPO_ROOT } from '../config/index.ts';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { type ConnectorHalt, DEFAULT_CONNECTOR_NAME } from '../connectors/dynamodb-streams/connector.ts';
import { acceptRestartedLocalStream } from '../connectors/dynamodb-streams/operator.ts';
import { up } from '../infra/stack.ts';
import { createSchemaRegistry } from '../lib/clients.ts';
import { PROCESSORS } from '../processors/index.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import { type Component, Supervisor } from '../supervisor/supervisor.ts';
import { ensureTopics } from '../topology/admin.ts';
import { allTopics } from '../topology/describe.ts';
import { topology } from '../topology/index.ts';

// The demo's own pipeline: the services as `npm start` brings them up (infra, topics, schemas),
// then the same components `npm start` supervises, in two groups:
//   system clock   the processors, the selection processors (long session timeout), the API, the
//                  DynamoDB Streams connector: registration, replication, selection (not the
//                  runtime's reference processors echo and sample-store)
//   simulated      scheduler-jobs, notification-generator, export-writer and one scheduler
//                  replica, all on one simulated time line, started for the notification stage
// Their log lines go to one file (the summary names it), not to the terminal.

/** The processors that act on scheduler ticks: they run on the simulated clock. */
export const NOTIFICATION_PROCESSORS = ['scheduler-jobs', 'notification-generator', 'export-writer'];
/** One handler call per selection request (planner) or batch (saver): they need a long session. */
export const SELECTION_PROCESSORS = ['selection-planner', 'selection-saver'];
const SELECTION_SESSION_TIMEOUT_MS = '300000';

const regflow = (...args: string[]) => ({
  command: process.execPath,
  args: [join(REPO_ROOT, 'bin/regflow.js'), ...args],
});

/** The runtime's reference processors (sample events): not part of the spec's scenarios. */
export const REFERENCE_PROCESSORS = ['echo', 'sample-store'];

export const systemProcessors = () =>
  Object.keys(PROCESSORS).filter(
    (p) =>
      !NOTIFICATION_PROCESSORS.includes(p) &&
      !SELECTION_PROCESSORS.includes(p) &&
      !REFERENCE_PROCESSORS.includes(p),
  );

/**
 * The system-clock components. The connector answers /readyz on `connectorPort` (when given), so
 * the demo sees within a second that it halted (DemoPipeline.connectorHalted).
 */
export function systemComponents(
  config: Readonly<Config>,
  opts: { connectorPort?: number } = {},
): Component[] {
  const { connectorPort } = opts;
  return [
    { name: 'processors', ...regflow('run', ...systemProcessors()), env: { REGFLOW_HTTP_PORT: '0' } },
    {
      name: 'selection',
      ...regflow('run', ...SELECTION_PROCESSORS),
      env: { REGFLOW_HTTP_PORT: '0', REGFLOW_KAFKA_SESSION_TIMEOUT_MS: SELECTION_SESSION_TIMEOUT_MS },
    },
    { name: 'api', ...regflow('api') },
    {
      name: 'connector',
      // The configured table (REGFLOW_DEMAND_TABLE), as every entry point of the connector reads it.
      // Its idle shards' checkpoints move on every 2 s: the draw waits for one after the close.
      ...regflow('connector', 'run'),
      env: {
        REGFLOW_HTTP_PORT: String(connectorPort ?? 0),
        REGFLOW_DEMAND_TABLE: config.dynamodb.demandTable,
      },
      ...(connectorPort === undefined
        ? {}
        : { readyUrl: `http://${config.runtime.httpHost}:${connectorPort}/readyz` }),
    },
  ];
}

/** The names the simulated scheduler replica uses (its own, so each run starts from a clean state). */
export const simSchedulerNames = (runId: string) => ({
  prefix: runId,
  lease: `${runId}:scheduler:leader`,
  stateGroup: `${runId}-regflow-scheduler-state`,
});

export function notificationComponents(clock: string, runId: string): Component[] {
  return [
    {
      name: 'notify',
      ...regflow('run', ...NOTIFICATION_PROCESSORS, '--clock', clock),
      env: { REGFLOW_HTTP_PORT: '0' },
    },
    {
      name: 'schedulers',
      command: process.execPath,
      args: ['--import', 'tsx', join(REPO_ROOT, 'demo/sim-schedulers.ts')],
      env: { REGFLOW_HTTP_PORT: '0', REGFLOW_CLOCK: clock, DEMO_SCHEDULER_PREFIX: runId },
    },
  ];
}

/** Local services up (or checked, when configured as existing ones), topics created, schemas registered. */
export async function prepareServices(
  config: Readonly<Config>,
  print: (line: string) => void,
): Promise<void> {
  const reports = await up(config, { print });
  print(reports.map((r) => `${r.name} ${r.state}`).join(', '));
  await withAdmin((admin) => ensureTopics(admin, allTopics(topology)), config);
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  for (const t of topology.topics) await codec.register(t.name, loadSchema(t.valueSchema));
  if (reports.some((r) => r.name === 'dynamodb' && r.state === 'started'))
    await acceptRestartedLocalStream({ config }, print);
}

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * What shows that another pipeline (`npm start`, another demo) is running against these services:
 * the API port taken, live members in the processors' consumer groups, the connector's lease held.
 * Two pipelines on the same topics would split the partitions between them.
 */
export async function otherPipeline(config: Readonly<Config>, admin: Admin, redis: Redis): Promise<string[]> {
  const found: string[] = [];
  if (config.api.port !== 0 && (await portAnswers(config.api.host, config.api.port)))
    found.push(`port ${config.api.port} (the API) answers on ${config.api.host}`);
  const groups = await admin.describeGroups(topology.processors.map((p) => p.name));
  const live = groups.groups.filter((g) => g.members.length > 0);
  if (live.length > 0)
    found.push(
      `consumer group(s) with live members: ${live.map((g) => `${g.groupId} (${g.members.length})`).join(', ')}`,
    );
  const lease = `regflow:connector:${connectorIdOf(DEFAULT_CONNECTOR_NAME, config.dynamodb.demandTable)}:lease`;
  if ((await redis.exists(lease)) === 1) found.push(`the connector's lease ${lease} is held`);
  return found;
}

/** Processor groups that are Stable with at least one member (kafkajs describeGroups). */
export async function readyGroups(admin: Admin, names: readonly string[]): Promise<Set<string>> {
  const { groups } = await admin.describeGroups([...names]);
  return new Set(groups.filter((g) => g.state === 'Stable' && g.members.length > 0).map((g) => g.groupId));
}

export class DemoPipeline {
  private readonly supervisors: Supervisor[] = [];
  private readonly log: WriteStream;
  readonly logFile: string;
  /**
   * Settles when the connector's /readyz says it halted (a gap, e.g. Kafka kept the checkpoints of
   * a stream the DynamoDB server forgot): nothing reaches Kafka until an operator accepts the gap.
   */
  readonly connectorHalted: Promise<ConnectorHalt>;
  private halted: (halt: ConnectorHalt) => void = () => {};

  constructor(dataDir: string, runId: string) {
    const dir = join(dataDir, 'demo');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${runId}.log`);
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    this.connectorHalted = new Promise((resolve) => {
      this.halted = resolve;
    });
  }

  /** Starts these components under a supervisor of their own (restarted with backoff if they die). */
  start(components: Component[]): Supervisor {
    const supervisor = new Supervisor(components, {
      stopGraceMs: 20_000,
      readinessIntervalMs: 1_000,
      onReadiness: (name, { body }) => {
        if (name !== 'connector' || body.state !== 'halted') return;
        this.halted({
          reason: typeof body.reason === 'string' ? body.reason : 'halted (no reason given)',
          remedy: typeof body.remedy === 'string' ? body.remedy : 'npx regflow connector reset --accept-gap',
        });
      },
      onLine: (name, line) =>
        this.log.write(
          `${line.startsWith('{') ? line.replace(/^\{/, `{"component":"${name}",`) : JSON.stringify({ component: name, msg: line })}\n`,
        ),
      onEvent: (name, event) => this.log.write(`${JSON.stringify({ component: name, supervisor: event })}\n`),
    });
    supervisor.start();
    this.supervisors.push(supervisor);
    return supervisor;
  }

  /** Largest resident memory seen per component (MB), from /proc (Linux); see sampleMemory. */
  readonly memoryMb = new Map<string, number>();

  /** Reads the resident memory of every running component now and keeps the largest per component. */
  sampleMemory(): void {
    for (const s of this.supervisors)
      for (const c of s.status()) {
        if (c.pid === undefined || c.state !== 'running') continue;
        const mb = residentMb(c.pid);
        if (mb !== undefined) this.memoryMb.set(c.name, Math.max(mb, this.memoryMb.get(c.name) ?? 0));
      }
  }

  /** Restarts so far, per component that had any. */
  restarts(): Array<{ name: string; restarts: number }> {
    return this.supervisors
      .flatMap((s) => s.status())
      .filter((c) => c.restarts > 0)
      .map((c) => ({ name: c.name, restarts: c.restarts }));
  }

  async stop(supervisor?: Supervisor): Promise<void> {
    const targets = supervisor ? [supervisor] : [...this.supervisors].reverse();
    for (const s of targets) await s.stop();
  }

  async close(): Promise<void> {
    await this.stop();
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}

/** VmRSS of a process in MB, or undefined where /proc does not say (not Linux, process gone). */
export function residentMb(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}
