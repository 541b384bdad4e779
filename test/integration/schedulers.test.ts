import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT } from '../../config/index.ts';
import { runSchedulerReplica } from '../../connectors/schedulers/index.ts';
import { CronSchedule, SCHEDULES } from '../../connectors/schedulers/schedules.ts';
import { TickLog } from '../../connectors/schedulers/tick-log.ts';
import { createKafka, createRedis, createSchemaRegistry } from '../../lib/clients.ts';
import { SimulatedClock } from '../../lib/clock.ts';
import { RedisLease } from '../../lib/lease.ts';
import { createLogger } from '../../lib/logger.ts';
import { waitFor } from '../../lib/retry.ts';
import { Codec } from '../../runtime/codec.ts';
import type { SchedulerTick } from '../../schemas/types.generated.ts';
import { createTopic } from '../../topology/admin.ts';
import { readTopic } from '../runtime-harness.ts';
import { config, uniqueName } from '../support.ts';

// Schedulers against the real Kafka, registry and Redis, on a simulated clock: ticks are records on
// the tick topic, read back read_committed and counted by tick id.

const ms = (iso: string) => new Date(iso).getTime();
const schedules = SCHEDULES.map((s) => new CronSchedule(s));
afterAll(() => {
  for (const s of schedules) s.dispose();
});

const namesFor = (prefix: string) => ({
  topic: `${prefix}.ticks`,
  transactionalId: `${prefix}-scheduler`,
  stateGroup: `${prefix}-state`,
});

async function readTicks(
  topic: string,
  atLeast: number,
): Promise<(SchedulerTick & { key: string | null })[]> {
  const records = await readTopic(topic, { atLeast, settleMs: 2_000, timeoutMs: 60_000 });
  return records.map((r) => ({ ...(r.value as unknown as SchedulerTick), key: r.key }));
}

/** For each schedule: fired ticks are unique and contiguous (no gap) from the first to the last. */
function expectEachTickOnce(ticks: SchedulerTick[]) {
  const counts = new Map<string, number>();
  for (const t of ticks) counts.set(t.tickId, (counts.get(t.tickId) ?? 0) + 1);
  expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
  for (const schedule of schedules) {
    const fired = ticks
      .filter((t) => t.schedule === schedule.name)
      .map((t) => t.scheduledAt)
      .sort((a, b) => a - b);
    expect(fired.length, schedule.name).toBeGreaterThan(0);
    const expected = schedule.ticksBetween(fired[0]! - 1, fired.at(-1)!);
    expect(fired, `${schedule.name}: every tick between its first and last, once`).toEqual(expected);
  }
}

/** Commits the given last ticks (and that state) as an earlier leader would have. */
async function seedHistory(prefix: string, last: [string, string][]): Promise<void> {
  const names = namesFor(prefix);
  const kafka = createKafka(config.kafka, { logLevel: 0 });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await createTopic(admin, { topic: names.topic, numPartitions: 1 });
    const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
    const { log } = await TickLog.open({ kafka, admin, codec, names, logger: createLogger('silent') });
    const ticks = last.map(([schedule, at]) => {
      const spec = SCHEDULES.find((s) => s.name === schedule)!;
      return {
        tickId: `${schedule}@${at}`,
        schedule,
        cron: spec.cron,
        timezone: spec.timezone,
        scheduledAt: ms(at),
        firedAt: ms(at),
        catchUp: false,
        skippedBefore: 0,
        leaderEpoch: 0,
        firedBy: 'seed',
      };
    });
    await log.append(ticks, Object.fromEntries(last.map(([schedule, at]) => [schedule, ms(at)])));
    await log.close();
  } finally {
    await admin.disconnect();
  }
}

interface Replica {
  child: ChildProcess;
  events: () => Record<string, unknown>[];
  exited: Promise<unknown>;
  output: () => string;
}

function spawnReplica(prefix: string, clock: string, replica: string): Replica {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/scheduler-process.ts')],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        FIXTURE_PREFIX: prefix,
        FIXTURE_CLOCK: clock,
        FIXTURE_REPLICA: replica,
        REGFLOW_SCHEDULER_LEASE_TTL_MS: '1500',
        REGFLOW_SCHEDULER_CATCH_UP_MAX: '500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  child.stdout?.on('data', (b: Buffer) => {
    text += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    text += b.toString();
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const events = () =>
    text
      .split('\n')
      .filter((l) => l.startsWith('FIXTURE '))
      .map((l) => JSON.parse(l.slice('FIXTURE '.length)) as Record<string, unknown>);
  return { child, events, exited, output: () => text };
}

describe('schedulers (real Kafka, registry, Redis; simulated clock)', () => {
  it('two replicas over the 25-hour fall-back day, the leader killed -9 mid-day: each tick fires exactly once', async () => {
    const prefix = uniqueName('sched');
    const speed = 2_880; // 25 simulated hours in about 31 real seconds
    const start = ms('2026-11-01T00:00:00-07:00') - 30_000;
    const end = ms('2026-11-02T00:00:00-08:00');
    // History up to the eve of the day, as if replicas had run before: whenever the replicas get
    // going (a loaded machine may take seconds, i.e. simulated hours), they catch up from there.
    await seedHistory(prefix, [
      ['plan-sends', '2026-10-31T07:00:00.000Z'],
      ['markets-to-notify', '2026-11-01T06:55:00.000Z'],
      ['reminder-emails', '2026-11-01T06:45:00.000Z'],
    ]);
    const anchor = Date.now() + 4_000; // both replicas read the same simulated time line
    const clock = `simulated:${new Date(start).toISOString()},speed=${speed},anchor=${anchor}`;
    const simAt = (realMs: number) => start + (realMs - anchor) * speed;
    const realAt = (simMs: number) => anchor + (simMs - start) / speed;

    const replicas = [spawnReplica(prefix, clock, 'a'), spawnReplica(prefix, clock, 'b')];
    try {
      const firedBy = (r: Replica) => r.events().filter((e) => e.event === 'fired').length;
      // Mid-day (about 10:00 PST), kill the replica that is firing.
      await new Promise((r) =>
        setTimeout(r, Math.max(0, realAt(ms('2026-11-01T10:00:00-08:00')) - Date.now())),
      );
      // The leader now is the one that fired under the newest epoch (leadership may have moved).
      const newestEpoch = (r: Replica) =>
        Math.max(-1, ...r.events().flatMap((e) => (e.event === 'fired' ? [Number(e.epoch)] : [])));
      const leader = [...replicas]
        .sort((x, y) => newestEpoch(y) - newestEpoch(x))
        .find((r) => firedBy(r) > 0);
      expect(leader, replicas.map((r) => r.output()).join('\n')).toBeDefined();
      const survivor = replicas.find((r) => r !== leader)!;
      const killedAt = simAt(Date.now());
      leader!.child.kill('SIGKILL');
      await leader!.exited;

      // Until the survivor has fired the day's last tick (simulated time runs on; how far behind the
      // survivor is does not matter, only that it fires everything once).
      const lastTick = `markets-to-notify@${new Date(end).toISOString()}`;
      const firedIds = (r: Replica) =>
        r.events().flatMap((e) => (e.event === 'fired' ? (e.ticks as string[]) : []));
      const finished = await waitFor(async () => firedIds(survivor).includes(lastTick), {
        timeoutMs: 90_000,
        intervalMs: 200,
      });
      expect(finished, survivor.output().slice(-3_000)).toBe(true);
      survivor.child.kill('SIGTERM');
      await survivor.exited;

      const ticks = await readTicks(namesFor(prefix).topic, 380);
      expectEachTickOnce(ticks);
      for (const t of ticks) expect(t.key).toBe(t.tickId);
      const ids = new Set(ticks.map((t) => t.tickId));
      // The whole day: both midnights, and all 300 five-minute ticks of the 25-hour day (the repeated hour included).
      expect(ids.has('plan-sends@2026-11-01T07:00:00.000Z')).toBe(true);
      expect(ids.has('plan-sends@2026-11-02T08:00:00.000Z')).toBe(true);
      const poll = schedules.find((s) => s.name === 'markets-to-notify')!;
      const day = poll.ticksBetween(ms('2026-11-01T00:00:00-07:00'), end);
      expect(day.filter((t) => ids.has(`markets-to-notify@${new Date(t).toISOString()}`))).toHaveLength(300);
      // Fired by both replicas, the survivor under a newer epoch, catching up what the dead leader missed.
      const epochs = [...new Set(ticks.map((t) => `${t.firedBy}:${t.leaderEpoch}`))];
      expect(new Set(ticks.map((t) => t.firedBy))).toEqual(new Set(['seed', 'a', 'b']));
      expect(epochs.length).toBeGreaterThanOrEqual(2);
      const takeover = ticks.filter((t) => t.catchUp && t.scheduledAt > killedAt - 3 * 3_600_000);
      expect(takeover.length).toBeGreaterThan(0);
      expect(takeover.every((t) => t.skippedBefore === 0)).toBe(true);
    } finally {
      for (const r of replicas) r.child.kill('SIGKILL');
    }
  }, 120_000);

  it('catches up at start the ticks missed while every replica was down, bounded per schedule', async () => {
    const prefix = uniqueName('sched');
    const clock = new SimulatedClock(new Date('2026-03-07T23:50:00-08:00'));
    const config = loadConfig({
      ...process.env,
      REGFLOW_SCHEDULER_LEASE_TTL_MS: '1000',
      REGFLOW_SCHEDULER_CATCH_UP_MAX: '12',
    });
    const fired: SchedulerTick[] = [];
    const start = () =>
      runSchedulerReplica({
        config,
        clock,
        logger: createLogger('warn'),
        replicaId: 'solo',
        names: namesFor(prefix),
        leasePrefix: prefix,
        onFired: (ticks) => fired.push(...ticks),
      });

    const first = await start();
    expect(await waitFor(async () => fired.length >= 3, { timeoutMs: 30_000, intervalMs: 50 })).toBe(true);
    clock.advance(5 * 60_000); // 23:55: one more poll tick
    expect(await waitFor(async () => fired.length >= 4, { timeoutMs: 30_000, intervalMs: 50 })).toBe(true);
    await first.stop();

    clock.set(new Date('2026-03-08T03:01:00-07:00')); // down across midnight and the spring-forward change
    const second = await start();
    expect(
      await waitFor(async () => fired.length >= 4 + 1 + 12 + 9, { timeoutMs: 30_000, intervalMs: 50 }),
    ).toBe(true);
    await second.stop();

    const ticks = await readTicks(namesFor(prefix).topic, 26);
    expect(ticks.map((t) => t.tickId)).toEqual(fired.map((t) => t.tickId));
    const caughtUp = ticks.slice(4);
    expect(caughtUp.every((t) => t.catchUp)).toBe(true);
    const ofSchedule = (name: string) => caughtUp.filter((t) => t.schedule === name);
    // 00:00 PST to 03:00 PDT is 2 real hours: 25 five-minute ticks missed (08:00 to 10:00 UTC), the last 12 fired, 13 skipped.
    expect(ofSchedule('plan-sends').map((t) => t.tickId)).toEqual(['plan-sends@2026-03-08T08:00:00.000Z']);
    expect(ofSchedule('markets-to-notify').map((t) => t.skippedBefore)).toEqual([13, ...Array(11).fill(0)]);
    expect(ofSchedule('markets-to-notify').at(-1)!.tickId).toBe('markets-to-notify@2026-03-08T10:00:00.000Z');
    // 15-minute ticks: 23:45 fired before the outage; 00:00 PST … 03:00 PDT = 9 missed, all fired.
    expect(ofSchedule('reminder-emails')).toHaveLength(9);
    expect(ofSchedule('reminder-emails').every((t) => t.skippedBefore === 0)).toBe(true);
  }, 90_000);
});

describe('the pieces that make a tick fire once', () => {
  it('a leader fenced by a newer one cannot append, and the newer one reads what the old one committed', async () => {
    const prefix = uniqueName('sched');
    const names = namesFor(prefix);
    const kafka = createKafka(config.kafka, { logLevel: 0 });
    const admin = kafka.admin();
    await admin.connect();
    await createTopic(admin, { topic: names.topic, numPartitions: 1 });
    const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
    const logger = createLogger('silent');
    const tick = (id: string, epoch: number): SchedulerTick => ({
      tickId: `markets-to-notify@${id}`,
      schedule: 'markets-to-notify',
      cron: '*/5 * * * *',
      timezone: 'America/Los_Angeles',
      scheduledAt: ms(id),
      firedAt: ms(id),
      catchUp: false,
      skippedBefore: 0,
      leaderEpoch: epoch,
      firedBy: `leader-${epoch}`,
    });
    try {
      const old = await TickLog.open({ kafka, admin, codec, names, logger });
      expect(old.state).toEqual({});
      await old.log.append([tick('2026-11-01T09:00:00.000Z', 1)], {
        'markets-to-notify': ms('2026-11-01T09:00:00Z'),
      });

      const next = await TickLog.open({ kafka, admin, codec, names, logger });
      expect(next.state).toEqual({ 'markets-to-notify': ms('2026-11-01T09:00:00Z') });
      await expect(
        old.log.append([tick('2026-11-01T09:05:00.000Z', 1)], {
          'markets-to-notify': ms('2026-11-01T09:05:00Z'),
        }),
      ).rejects.toThrow();
      await next.log.append([tick('2026-11-01T09:05:00.000Z', 2)], {
        'markets-to-notify': ms('2026-11-01T09:05:00Z'),
      });
      await old.log.close();
      await next.log.close();

      const ticks = await readTicks(names.topic, 2);
      expect(ticks.map((t) => [t.tickId, t.firedBy])).toEqual([
        ['markets-to-notify@2026-11-01T09:00:00.000Z', 'leader-1'],
        ['markets-to-notify@2026-11-01T09:05:00.000Z', 'leader-2'],
      ]);
    } finally {
      await admin.disconnect();
    }
  });

  it('regflow schedulers run refuses a --sim-prefix that cannot name a topic, before touching anything', async () => {
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'bin/regflow.js'),
        'schedulers',
        'run',
        '--clock',
        'simulated:2026-11-01T00:00:00Z',
        '--sim-prefix',
        'not a prefix',
      ],
      { cwd: REPO_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/--sim-prefix: expected "none" or letters/);
  }, 60_000);

  it('the lease admits one holder at a time, with a fencing token that only grows', async () => {
    const prefix = uniqueName('lease');
    const redis = createRedis(config.redis);
    try {
      const a = new RedisLease(redis, { key: `${prefix}:leader`, holder: 'a', ttlMs: 400 });
      const b = new RedisLease(redis, { key: `${prefix}:leader`, holder: 'b', ttlMs: 400 });
      const first = await a.tryAcquire();
      expect(first).toBe(1);
      expect(await b.tryAcquire()).toBeNull();
      expect(await b.renew()).toBe(false);
      expect(await a.renew()).toBe(true);
      await a.release();
      const second = await b.tryAcquire();
      expect(second).toBe(2);
      // b dies without releasing: its lease runs out and a takes over with a larger token.
      await new Promise((r) => setTimeout(r, 600));
      expect(await a.tryAcquire()).toBe(3);
      expect(await b.renew()).toBe(false);
    } finally {
      await redis.del(`${prefix}:leader`, `${prefix}:leader:token`);
      redis.disconnect();
    }
  });
});
