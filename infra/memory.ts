import { readdirSync, readFileSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import { pipelineStateFile, readPipelineState } from '../supervisor/state.ts';
import type { ComponentStatus } from '../supervisor/supervisor.ts';
import { isAlive, portPid } from './proc.ts';
import type { ServiceReport } from './stack.ts';

// Resident memory of the whole local stack, for `npm run infra -- status`: each service (its
// process and any children) and the pipeline `npm start` supervises from this checkout (found
// through the supervisor's state file, supervisor/state.ts). Figures are RSS from /proc: pages
// shared between processes (the node binary, shared libraries) count once per process, so the
// sums are an upper bound of what the processes take together.

/** The pipeline's own processes (not the services) should stay within this (issue 11). */
export const PIPELINE_MEMORY_GOAL_MIB = 600;

export interface ProcInfo {
  ppid: number;
  rssKiB: number;
}

/** Every visible process's parent and resident memory, from /proc/<pid>/status. */
export function processTable(): Map<number, ProcInfo> {
  const table = new Map<number, ProcInfo>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      table.set(Number(entry), { ppid, rssKiB });
    } catch {
      // gone between the listing and the read
    }
  }
  return table;
}

/** A process and all its descendants; empty when it is gone. */
function treePids(pid: number, table: Map<number, ProcInfo>): number[] {
  if (!table.has(pid)) return [];
  const children = new Map<number, number[]>();
  for (const [p, info] of table) children.set(info.ppid, [...(children.get(info.ppid) ?? []), p]);
  const seen = new Set<number>();
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    queue.push(...(children.get(p) ?? []));
  }
  return [...seen];
}

/** Resident memory of a process and all its descendants, in MiB; undefined when it is gone. */
export function treeRssMiB(pid: number, table: Map<number, ProcInfo> = processTable()): number | undefined {
  const pids = treePids(pid, table);
  if (pids.length === 0) return undefined;
  return Math.round(pids.reduce((kib, p) => kib + (table.get(p)?.rssKiB ?? 0), 0) / 1024);
}

/**
 * Proportional set size of a process and its descendants, in MiB: each page shared with other
 * processes (the node binary, libraries) counted as its share, so the PSS of several processes
 * adds up to what they take together (/proc/<pid>/smaps_rollup); undefined when unreadable.
 */
export function treePssMiB(pid: number, table: Map<number, ProcInfo> = processTable()): number | undefined {
  const pids = treePids(pid, table);
  let kib = 0;
  for (const p of pids) {
    const own = pssKiB(p);
    if (own === undefined) return undefined;
    kib += own;
  }
  return pids.length === 0 ? undefined : Math.round(kib / 1024);
}

function pssKiB(pid: number): number | undefined {
  try {
    const pss = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1];
    return pss === undefined ? undefined : Number(pss);
  } catch {
    return undefined;
  }
}

export interface ComponentMemory extends ComponentStatus {
  rssMiB?: number;
  /** Its proportional share (treePssMiB): what it adds to the machine's memory. */
  pssMiB?: number;
}

export interface PipelineMemory {
  supervisorPid: number;
  startedAt: string;
  /** The supervisor process alone (its children are the components). */
  supervisorRssMiB?: number;
  supervisorPssMiB?: number;
  components: ComponentMemory[];
}

/**
 * The pipeline `npm start` runs from this checkout, with each component's memory; null when none
 * runs (no state file, or its supervisor is gone). A component's pid counts only while it is
 * still a child of the supervisor (a guard against a reused pid).
 */
export function pipelineMemory(
  config: Readonly<Config>,
  table: Map<number, ProcInfo> = processTable(),
): PipelineMemory | null {
  const state = readPipelineState(pipelineStateFile(config.paths.dataDir));
  if (!state || !isAlive(state.supervisorPid)) return null;
  const supervisorKiB = table.get(state.supervisorPid)?.rssKiB;
  const supervisorPssKiB = pssKiB(state.supervisorPid);
  return {
    supervisorPid: state.supervisorPid,
    startedAt: state.startedAt,
    ...(supervisorKiB === undefined ? {} : { supervisorRssMiB: Math.round(supervisorKiB / 1024) }),
    ...(supervisorPssKiB === undefined ? {} : { supervisorPssMiB: Math.round(supervisorPssKiB / 1024) }),
    components: state.components.map((c) => {
      const own = c.pid !== undefined && table.get(c.pid)?.ppid === state.supervisorPid;
      const rssMiB = own ? treeRssMiB(c.pid!, table) : undefined;
      const pssMiB = own ? treePssMiB(c.pid!, table) : undefined;
      return {
        ...c,
        ...(rssMiB === undefined ? {} : { rssMiB }),
        ...(pssMiB === undefined ? {} : { pssMiB }),
      };
    }),
  };
}

/** The TCP port of an endpoint on this machine (127.0.0.1, localhost, ::1); undefined otherwise. */
export function loopbackPort(endpoint: string): number | undefined {
  const first = endpoint.split(',')[0]!.trim();
  try {
    const url = new URL(first.includes('://') ? first : `tcp://${first}`);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.port === '') return undefined;
    return Number(url.port);
  } catch {
    return undefined;
  }
}

/**
 * The services' reports with the memory of each whole process tree. A service this checkout did
 * not start (state `external`) but that listens on this machine is found by its port, so the
 * local stack is measured whoever started it.
 */
export async function withServiceMemory(
  reports: readonly ServiceReport[],
  table: Map<number, ProcInfo> = processTable(),
): Promise<ServiceReport[]> {
  return Promise.all(
    reports.map(async (r) => {
      const port = loopbackPort(r.endpoint);
      const pid = r.pid ?? (r.state === 'external' && port !== undefined ? await portPid(port) : null);
      if (pid === null || pid === undefined) return { ...r };
      const rssMiB = treeRssMiB(pid, table);
      return { ...r, pid, ...(rssMiB === undefined ? {} : { rssMiB }) };
    }),
  );
}

export interface MemoryTotals {
  servicesMiB: number;
  /** The components' RSS summed: pages they share (the node binary) count once per process. */
  pipelineMiB: number;
  /** The components' PSS summed: what they take together; undefined when a component's is unknown. */
  pipelinePssMiB?: number;
  supervisorMiB: number;
  totalMiB: number;
}

export function memoryTotals(
  services: readonly ServiceReport[],
  pipeline: PipelineMemory | null,
): MemoryTotals {
  const sum = (xs: (number | undefined)[]) => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
  const servicesMiB = sum(services.map((s) => s.rssMiB));
  const pipelineMiB = sum(pipeline?.components.map((c) => c.rssMiB) ?? []);
  const supervisorMiB = pipeline?.supervisorRssMiB ?? 0;
  const pss = pipeline?.components.map((c) => c.pssMiB) ?? [];
  const pipelinePssMiB =
    pipeline && pss.every((x) => x !== undefined) && pss.length > 0 ? sum(pss) : undefined;
  return {
    servicesMiB,
    pipelineMiB,
    ...(pipelinePssMiB === undefined ? {} : { pipelinePssMiB }),
    supervisorMiB,
    totalMiB: servicesMiB + pipelineMiB + supervisorMiB,
  };
}
