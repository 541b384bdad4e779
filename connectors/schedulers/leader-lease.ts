import type { Redis } from 'ioredis';
import type { Lease } from './scheduler.ts';

// Who fires: one leader among the scheduler replicas, elected by a Redis lease (SET if absent,
// with a TTL, renewed by its holder). Each new lease gets a fencing token from a counter that
// only grows; the token goes into every tick the leader fires. The lease is for liveness (one
// replica works, the others wait; a dead leader's lease runs out and another takes over), not for
// safety: two replicas that both believe they lead (a pause longer than the TTL) cannot both
// fire, because the tick log admits only the newest transactional epoch (tick-log.ts).

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class LeaderLease implements Lease {
  private holding: string | null = null;

  constructor(
    private readonly redis: Redis,
    /** Key prefix, e.g. `regflow:scheduler`: the lease is `<prefix>:leader`, the counter `<prefix>:fence`. */
    private readonly prefix: string,
    private readonly owner: string,
    readonly ttlMs: number,
  ) {}

  private get keys(): [string, string] {
    return [`${this.prefix}:leader`, `${this.prefix}:fence`];
  }

  /** The fencing token if this replica now holds the lease, else null. */
  async tryAcquire(): Promise<number | null> {
    const token = (await this.redis.eval(ACQUIRE, 2, ...this.keys, this.owner, this.ttlMs)) as number | null;
    if (token === null) return null;
    this.holding = `${this.owner}:${token}`;
    return token;
  }

  /** Extends the lease; false when it is no longer ours. */
  async renew(): Promise<boolean> {
    if (!this.holding) return false;
    const ok = (await this.redis.eval(RENEW, 1, this.keys[0], this.holding, this.ttlMs)) === 1;
    if (!ok) this.holding = null;
    return ok;
  }

  async release(): Promise<void> {
    const holding = this.holding;
    this.holding = null;
    if (holding) await this.redis.eval(RELEASE, 1, this.keys[0], holding);
  }
}
