import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import { createKafka, createRedis, createSchemaRegistry } from '../../lib/clients.ts';
import type { Clock } from '../../lib/clock.ts';
import { RedisLease } from '../../lib/lease.ts';
import { kafkaLogCreator } from '../../lib/logger.ts';
import { Codec } from '../../runtime/codec.ts';
import { ensureTopics } from '../../topology/admin.ts';
import { topology } from '../../topology/index.ts';
import { type RunningScheduler, type SchedulerDeps, startScheduler } from './scheduler.ts';
import { CronSchedule, SCHEDULES, type ScheduleSpec } from './schedules.ts';
import { DEFAULT_TICK_LOG_NAMES, TickLog, type TickLogNames } from './tick-log.ts';

// Wiring: a scheduler replica from the config, real clients, and the injected clock.

export interface SchedulerOptions {
  config: Readonly<Config>;
  clock: Clock;
  logger: Logger;
  replicaId?: string;
  /** Tests give their own names; production uses the topology's. */
  names?: TickLogNames;
  leasePrefix?: string;
  schedules?: readonly ScheduleSpec[];
  onFired?: SchedulerDeps['onFired'];
}

export async function runSchedulerReplica(options: SchedulerOptions): Promise<RunningScheduler> {
  const { config, clock } = options;
  const names = options.names ?? DEFAULT_TICK_LOG_NAMES;
  const replicaId = options.replicaId ?? `${hostname()}-${process.pid}`;
  const logger = options.logger.child({ component: 'scheduler', replica: replicaId });
  const kafka = createKafka(config.kafka, { logCreator: kafkaLogCreator(logger) });
  const admin = kafka.admin();
  await admin.connect();
  const spec = topology.topics.find((t) => t.name === DEFAULT_TICK_LOG_NAMES.topic)!;
  await ensureTopics(admin, [{ ...spec, name: names.topic }]);
  const redis = createRedis(config.redis);
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  const schedules = (options.schedules ?? SCHEDULES).map((s) => new CronSchedule(s));
  const running = startScheduler({
    schedules,
    clock,
    lease: new RedisLease(redis, {
      key: `${options.leasePrefix ?? 'regflow:scheduler'}:leader`,
      holder: replicaId,
      ttlMs: config.schedulers.leaseTtlMs,
    }),
    openTickLog: () => TickLog.open({ kafka, admin, codec, names, logger }),
    replicaId,
    logger,
    catchUpMax: config.schedulers.catchUpMax,
    onFired: options.onFired,
  });
  const done = running.done.finally(async () => {
    for (const s of schedules) s.dispose();
    await admin.disconnect().catch(() => {});
    redis.disconnect();
  });
  return {
    ...running,
    done,
    stop: async () => {
      await running.stop();
      await done;
    },
  };
}
