import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { InfraError } from '../lib/errors.ts';

// Process plumbing for the local services: run a provisioning step with its output streamed,
// start a daemon detached with a pid file, stop only what we started, find who holds a port.

const execFileAsync = promisify(execFile);

export type Printer = (line: string) => void;

/** Runs a provisioning command, streaming its output line by line with a prefix; throws on failure. */
export async function runStep(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; print: Printer },
): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const onData = (buf: Buffer) => {
      for (const line of buf.toString().split(/\r?\n|\r/)) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        opts.print(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => reject(new InfraError(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new InfraError(`${cmd} ${args.join(' ')} exited with ${code}:\n  ${tail.join('\n  ')}`)),
    );
  });
}

export async function capture(
  cmd: string,
  args: string[],
): Promise<{ stdout: string; stderr: string } | null> {
  try {
    return await execFileAsync(cmd, args, { timeout: 15_000 });
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * The pid recorded in a pid file, if that process is alive and is still the one we started: the
 * file's second line is a string our process's command line contains (a guard against pid reuse).
 */
export function ownPid(pidFile: string): number | null {
  if (!existsSync(pidFile)) return null;
  const [pidLine = '', marker = '', started = ''] = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number.parseInt(pidLine.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0 || marker === '' || !isAlive(pid)) return null;
  // The start time tells a reused pid apart even when its command line looks like ours.
  if (started !== '' && startTime(pid) !== started) return null;
  return cmdline(pid).includes(marker) ? pid : null;
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startTime(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

export interface DaemonSpec {
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
  pidFile: string;
  /** A string unique to this daemon's command line; see ownPid. */
  marker: string;
}

/** Starts a detached daemon whose output goes to its log file, and records its pid. */
export function startDaemon(spec: DaemonSpec): number {
  if (spec.cmd.startsWith('/') && !existsSync(spec.cmd)) {
    throw new InfraError(
      `${spec.cmd} is missing: delete its folder in the cache so that \`up\` provisions it again`,
    );
  }
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.cmd, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    // A spawn failure (ENOENT, EACCES) arrives as an 'error' event; without a listener it would
    // crash the whole `up` with a stack trace instead of this message.
    child.once('error', () => {});
    if (child.pid === undefined) throw new InfraError(`cannot start ${spec.cmd}`);
    child.unref();
    writeFileSync(spec.pidFile, `${child.pid}\n${spec.marker}\n${startTime(child.pid)}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM to the daemon's process group, SIGKILL after the grace period. Returns whether it ran. */
export async function stopDaemon(pidFile: string, graceMs = 20_000): Promise<boolean> {
  const pid = ownPid(pidFile);
  rmSync(pidFile, { force: true });
  if (pid === null) return false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signal('SIGKILL');
  while (isAlive(pid)) await sleep(50);
  return true;
}

export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolvePromise(open);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resident memory of a process in MiB, from /proc; undefined when it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const kb = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1];
    return kb ? Math.round(Number(kb) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** The pid listening on a TCP port, from `ss`; null if none or unknown. */
export async function portPid(port: number): Promise<number | null> {
  const out = await capture('ss', ['-ltnpH', `sport = :${port}`]);
  const match = out?.stdout.match(/pid=(\d+)/);
  return match ? Number(match[1]) : null;
}

/** Who listens on a TCP port, as "pid 123 (java -cp ...)", from `ss`; null if unknown. */
export async function portOwner(port: number): Promise<string | null> {
  const pid = await portPid(port);
  if (pid === null) return null;
  return `pid ${pid} (${cmdline(pid).slice(0, 120).trim() || 'unknown command'})`;
}

export function ensureDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

/** Last lines of a file, for a failed health check. */
export function tailFile(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
