import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { describeError, isRetriable } from '../lib/errors.ts';
import { backoffDelay, DEFAULT_RETRY } from '../lib/retry.ts';

// What a processor needs besides Kafka: stores, DynamoDB / S3 / Redis clients, an HTTP client.
// Each is declared once (a Resource) and opened once per process by the ResourcePool, shared by
// every processor in that process that names it, checked before the process says it is ready,
// and closed when the last processor using it stops.

export interface ResourceEnv {
  config: Readonly<Config>;
  logger: Logger;
  /** Another resource this one is built on (a store on the MongoDB client): opened once, shared. */
  use<T>(resource: Resource<T>): Promise<T>;
}

export interface Resource<T> {
  /** Unique in a process: two processors naming the same resource share one instance. */
  readonly name: string;
  open(env: ResourceEnv): Promise<T>;
  /** Resolves once the resource answers (a ping); throws a retriable error while it does not. */
  check?(value: T): Promise<void>;
  close?(value: T): Promise<void>;
}

export type ResourceMap<R> = { readonly [K in keyof R]: Resource<R[K]> };

export const defineResource = <T>(resource: Resource<T>): Resource<T> => resource;

export type ResourceState = 'opening' | 'ready' | 'failed';

export interface ResourceReport {
  name: string;
  state: ResourceState;
  error?: string;
}

interface Entry {
  resource: Resource<unknown>;
  value: Promise<unknown>;
  state: ResourceState;
  error?: string;
  users: number;
}

/** Keeps retrying a resource that does not answer yet (a store still starting); gives up on a permanent error. */
const OPEN_RETRY = { ...DEFAULT_RETRY, initialDelayMs: 250, maxDelayMs: 5_000 };

export class ResourcePool {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly env: Omit<ResourceEnv, 'use'>,
    private readonly openTimeoutMs = 120_000,
  ) {}

  /** Opens (or shares) every resource of the map and resolves with their values once all answer. */
  async acquire<R>(map: ResourceMap<R> | undefined): Promise<R> {
    const out: Record<string, unknown> = {};
    if (map === undefined) return out as R;
    const keys = Object.keys(map) as (keyof R & string)[];
    const values = await Promise.all(keys.map((k) => this.use(map[k] as Resource<unknown>)));
    keys.forEach((k, i) => {
      out[k] = values[i];
    });
    return out as R;
  }

  /** Gives back what `acquire` took; a resource no processor uses any more is closed. */
  async release<R>(map: ResourceMap<R> | undefined): Promise<void> {
    if (map === undefined) return;
    for (const resource of Object.values(map) as Resource<unknown>[]) {
      const entry = this.entries.get(resource.name);
      if (entry && --entry.users <= 0) await this.closeEntry(entry);
    }
  }

  report(): ResourceReport[] {
    return [...this.entries.values()].map((e) => ({
      name: e.resource.name,
      state: e.state,
      ...(e.error ? { error: e.error } : {}),
    }));
  }

  ready(): boolean {
    return [...this.entries.values()].every((e) => e.state === 'ready');
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    // Dependents were opened after what they use: close in reverse order.
    for (const entry of [...this.entries.values()].reverse()) await this.closeEntry(entry);
  }

  private use<T>(resource: Resource<T>): Promise<T> {
    const existing = this.entries.get(resource.name);
    if (existing) {
      if (existing.resource !== resource) {
        throw new Error(`two different resources are named '${resource.name}'`);
      }
      existing.users++;
      return existing.value as Promise<T>;
    }
    const entry: Entry = {
      resource: resource as Resource<unknown>,
      state: 'opening',
      users: 1,
      value: Promise.resolve(),
    };
    this.entries.set(resource.name, entry);
    entry.value = this.open(resource, entry);
    return entry.value as Promise<T>;
  }

  private async open<T>(resource: Resource<T>, entry: Entry): Promise<T> {
    const log = this.env.logger.child({ resource: resource.name });
    const deadline = Date.now() + this.openTimeoutMs;
    let value: T | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        value ??= await resource.open({ ...this.env, use: (r) => this.use(r) });
        await resource.check?.(value);
        entry.state = 'ready';
        delete entry.error;
        log.info({ attempt }, 'resource ready');
        return value;
      } catch (err) {
        entry.error = describeError(err);
        if (this.closed || !isRetriable(err) || Date.now() >= deadline) {
          entry.state = 'failed';
          log.error({ err: entry.error }, 'resource failed to open');
          if (value !== undefined) await resource.close?.(value).catch(() => {});
          throw err;
        }
        const delayMs = backoffDelay(OPEN_RETRY, Math.min(attempt, 6));
        log.warn({ attempt, delayMs, err: entry.error }, 'resource not ready yet; retrying');
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }

  private async closeEntry(entry: Entry): Promise<void> {
    if (!this.entries.delete(entry.resource.name)) return;
    const value = await entry.value.catch(() => undefined);
    if (value === undefined) return;
    await entry.resource.close?.(value).catch((err: unknown) => {
      this.env.logger.warn({ resource: entry.resource.name, err: describeError(err) }, 'resource close');
    });
  }
}
