import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Printer } from './proc.ts';

export const SERVICE_NAMES = ['kafka', 'schema-registry', 'dynamodb', 'mongodb', 'redis'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ServiceContext {
  config: Readonly<Config>;
  /** This service's folder in the download/build cache (outside the clone). */
  cacheDir: string;
  /** This service's runtime data folder (inside the git-ignored data dir). */
  dataDir: string;
  runDir: string;
  logFile: string;
  print: Printer;
}

export interface DaemonCommand {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A string unique to our process's command line, so `down` never kills someone else's. */
  marker: string;
}

export interface LocalService {
  name: ServiceName;
  /** What runs, for people: "Apache Kafka 3.9.1 (KRaft, single node)". */
  describe: string;
  /** The variable that, when set, points at an existing service instead. */
  variable: string;
  endpoint(config: Readonly<Config>): string;
  isExternal(config: Readonly<Config>): boolean;
  /** Loopback ports our local process listens on. */
  ports: readonly number[];
  /** Downloads / builds into the cache when missing; cheap when already there. */
  provision(ctx: ServiceContext): Promise<void>;
  /** Prepares data (format, config files) and returns the command that runs the service. */
  command(ctx: ServiceContext): Promise<DaemonCommand>;
  /** True when the service answers through the client library regflow uses for it. */
  healthy(config: Readonly<Config>): Promise<boolean>;
  /** Runs once the service is healthy (e.g. the registry's global compatibility). */
  afterStart?(config: Readonly<Config>): Promise<void>;
  startTimeoutMs: number;
}

/**
 * A cache entry is complete when its stamp file holds the expected key (version + inputs):
 * an interrupted download never counts, and a changed version provisions anew.
 */
export function cacheStamp(dir: string, key: string) {
  const file = join(dir, '.regflow-complete');
  return {
    ok: () => existsSync(file) && readFileSync(file, 'utf8').trim() === key,
    write: () => writeFileSync(file, `${key}\n`),
  };
}

export function portOf(url: string): number {
  const parsed = new URL(url);
  return Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
}
