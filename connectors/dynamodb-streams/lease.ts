import type { Redis } from 'ioredis';

// Who may run the connector: a Redis lease with a fencing token. The lease decides liveness (one
// leader; the others wait as standbys and take over when it expires); the Kafka transactional id
// decides safety: a new leader's InitProducerId bumps the producer epoch, so a paused old leader
// that still believes in its lease cannot commit anything. Either alone is not enough: without
// the lease a standby's start would fence the live leader, and a lease cannot stop a zombie's
// write that is already in flight.

const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

export interface LeaseOptions {
  /** Redis key of the lease; `<key>:token` counts acquisitions (the fencing token). */
  key: string;
  /** Unique per process. */
  holder: string;
  ttlMs: number;
  now?: () => number;
}

export class RedisLease {
  private token = 0;
  /** Local deadline: past it we no longer assume we hold the lease, whatever Redis says. */
  private heldUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly options: LeaseOptions,
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The fencing token of the current hold: grows with every acquisition, by anyone. */
  get fencingToken(): number {
    return this.token;
  }

  /** True while the last successful acquire/renew is younger than the TTL (minus a safety margin). */
  isHeld(): boolean {
    return this.now() < this.heldUntil;
  }

  /** Takes the lease when nobody holds it; the fencing token, or null when someone else has it. */
  async tryAcquire(): Promise<number | null> {
    const started = this.now();
    const token = Number(
      await this.redis.eval(
        ACQUIRE,
        2,
        this.options.key,
        `${this.options.key}:token`,
        this.options.holder,
        this.options.ttlMs,
      ),
    );
    if (token === 0) return null;
    this.token = token;
    this.heldUntil = started + this.safeTtl();
    return token;
  }

  /** Extends the lease; false when it was lost (expired and maybe taken by someone else). */
  async renew(): Promise<boolean> {
    const started = this.now();
    const ok =
      Number(await this.redis.eval(RENEW, 1, this.options.key, this.options.holder, this.options.ttlMs)) ===
      1;
    if (ok) this.heldUntil = started + this.safeTtl();
    else this.heldUntil = 0;
    return ok;
  }

  async release(): Promise<void> {
    this.heldUntil = 0;
    await this.redis.eval(RELEASE, 1, this.options.key, this.options.holder);
  }

  /** Who holds the lease now (for status), or null. */
  async holder(): Promise<string | null> {
    return this.redis.get(this.options.key);
  }

  // Clocks of two machines drift and a renewal takes time: stop trusting the lease a little early.
  private safeTtl(): number {
    return Math.floor(this.options.ttlMs * 0.8);
  }
}
