import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { describeError, InfraError } from '../lib/errors.ts';
import { waitFor } from '../lib/retry.ts';
import {
  ensureDir,
  isPortOpen,
  ownPid,
  type Printer,
  portOwner,
  rssMiB,
  startDaemon,
  stopDaemon,
  tailFile,
} from './proc.ts';
import { type LocalService, SERVICE_NAMES, type ServiceContext, type ServiceName } from './service.ts';
import { ferretdb } from './services/ferretdb.ts';
import { kafka } from './services/kafka.ts';
import { moto } from './services/moto.ts';
import { redis } from './services/redis.ts';
import { schemaRegistry } from './services/schema-registry.ts';

// The local stack: up (idempotent, waits for health), down (only what we started), status, logs.

export const SERVICES: Record<ServiceName, LocalService> = {
  kafka,
  'schema-registry': schemaRegistry,
  dynamodb: moto,
  mongodb: ferretdb,
  redis,
};

export type ServiceState = 'started' | 'running' | 'external' | 'stopped' | 'unhealthy';

export interface ServiceReport {
  name: ServiceName;
  state: ServiceState;
  describe: string;
  endpoint: string;
  pid?: number;
  rssMiB?: number;
  logFile?: string;
  ms?: number;
}

function layout(config: Readonly<Config>, svc: LocalService, print: Printer) {
  const { dataDir, cacheDir } = config.paths;
  const ctx: ServiceContext = {
    config,
    cacheDir: ensureDir(join(cacheDir, svc.name)),
    dataDir: join(dataDir, svc.name),
    runDir: join(dataDir, 'run'),
    logFile: join(dataDir, 'logs', `${svc.name}.log`),
    print: (line) => print(`[${svc.name}] ${line}`),
  };
  return { ctx, pidFile: join(ctx.runDir, `${svc.name}.pid`) };
}

async function isHealthy(svc: LocalService, config: Readonly<Config>): Promise<boolean> {
  try {
    return await svc.healthy(config);
  } catch {
    return false;
  }
}

async function upOne(svc: LocalService, config: Readonly<Config>, print: Printer): Promise<ServiceReport> {
  const started = Date.now();
  const base = { name: svc.name, describe: svc.describe, endpoint: svc.endpoint(config) };
  if (svc.isExternal(config)) {
    if (!(await waitFor(() => svc.healthy(config), { timeoutMs: 10_000, intervalMs: 500 }))) {
      throw new InfraError(`${svc.variable} points at ${base.endpoint}, which does not answer`);
    }
    return { ...base, state: 'external' };
  }
  const { ctx, pidFile } = layout(config, svc, print);
  const running = ownPid(pidFile);
  if (running !== null) {
    if (await waitFor(() => svc.healthy(config), { timeoutMs: svc.startTimeoutMs })) {
      return { ...base, state: 'running', pid: running, logFile: ctx.logFile };
    }
    throw new InfraError(
      `${svc.name} (pid ${running}) is running but not healthy; last lines of ${ctx.logFile}:\n${tailFile(ctx.logFile)}`,
    );
  }
  for (const port of svc.ports) {
    if (await isPortOpen(port)) {
      const owner = (await portOwner(port)) ?? 'a process this user cannot see';
      throw new InfraError(
        `port ${port} (needed by ${svc.name}) is already taken by ${owner}: stop it, ` +
          `or set ${svc.variable} to use an existing ${svc.name} instead`,
      );
    }
  }
  ensureDir(ctx.dataDir);
  ensureDir(ctx.runDir);
  ensureDir(join(config.paths.dataDir, 'logs'));
  const command = await svc.command(ctx);
  const pid = startDaemon({ ...command, logFile: ctx.logFile, pidFile });
  let exited = false;
  const ok = await waitFor(
    async () => {
      // A daemon that died is reported at once, not after the whole start timeout.
      exited = ownPid(pidFile) === null;
      return exited || svc.healthy(config);
    },
    { timeoutMs: svc.startTimeoutMs, intervalMs: 300 },
  );
  if (!ok || exited) {
    const alive = !exited;
    await stopDaemon(pidFile, 5_000);
    throw new InfraError(
      `${svc.name} ${alive ? `did not become healthy within ${svc.startTimeoutMs / 1000}s` : 'exited during start-up'}; ` +
        `last lines of ${ctx.logFile}:\n${tailFile(ctx.logFile)}`,
    );
  }
  await svc.afterStart?.(config);
  return { ...base, state: 'started', pid, logFile: ctx.logFile, ms: Date.now() - started };
}

export function selectServices(names: readonly string[] = []): LocalService[] {
  if (names.length === 0) return SERVICE_NAMES.map((n) => SERVICES[n]);
  return names.map((n) => {
    if (!(SERVICE_NAMES as readonly string[]).includes(n)) {
      throw new InfraError(`unknown service '${n}' (one of ${SERVICE_NAMES.join(', ')})`);
    }
    return SERVICES[n as ServiceName];
  });
}

/**
 * Brings every selected service up, in parallel, and returns what each is doing now. Provisioning
 * (first use) is sequential so that two Maven runs never share the local repository at once.
 */
export async function up(
  config: Readonly<Config>,
  opts: { services?: readonly string[]; fresh?: boolean; print?: Printer } = {},
): Promise<ServiceReport[]> {
  const print = opts.print ?? ((l) => process.stderr.write(`${l}\n`));
  const selected = selectServices(opts.services);
  if (opts.fresh) {
    await down(config, { services: opts.services });
    for (const svc of selected)
      rmSync(join(config.paths.dataDir, svc.name), { recursive: true, force: true });
    print(`wiped data of ${selected.map((s) => s.name).join(', ')}`);
  }
  for (const svc of selected) {
    if (svc.isExternal(config)) continue;
    const { ctx, pidFile } = layout(config, svc, print);
    if (ownPid(pidFile) === null) await svc.provision(ctx);
  }
  const results = await Promise.allSettled(selected.map((svc) => upOne(svc, config, print)));
  const failures = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${selected[i]!.name}: ${describeError(r.reason)}`] : [],
  );
  if (failures.length > 0) throw new InfraError(failures.join('\n'));
  return results.map((r) => (r as PromiseFulfilledResult<ServiceReport>).value);
}

/** Stops the services this data dir started (by pid file), never anything else. */
export async function down(
  config: Readonly<Config>,
  opts: { services?: readonly string[] } = {},
): Promise<{ name: ServiceName; stopped: boolean }[]> {
  const selected = selectServices(opts.services);
  return Promise.all(
    selected.map(async (svc) => {
      const { pidFile } = layout(config, svc, () => {});
      return { name: svc.name, stopped: await stopDaemon(pidFile) };
    }),
  );
}

export async function status(
  config: Readonly<Config>,
  opts: { services?: readonly string[] } = {},
): Promise<ServiceReport[]> {
  return Promise.all(
    selectServices(opts.services).map(async (svc): Promise<ServiceReport> => {
      const base = { name: svc.name, describe: svc.describe, endpoint: svc.endpoint(config) };
      if (svc.isExternal(config)) {
        return { ...base, state: (await isHealthy(svc, config)) ? 'external' : 'unhealthy' };
      }
      const { ctx, pidFile } = layout(config, svc, () => {});
      const pid = ownPid(pidFile);
      if (pid === null) return { ...base, state: 'stopped', logFile: ctx.logFile };
      const state = (await isHealthy(svc, config)) ? 'running' : 'unhealthy';
      return { ...base, state, pid, rssMiB: rssMiB(pid), logFile: ctx.logFile };
    }),
  );
}

export function logFiles(config: Readonly<Config>, services: readonly string[] = []): string[] {
  return selectServices(services).map((svc) => join(config.paths.dataDir, 'logs', `${svc.name}.log`));
}
