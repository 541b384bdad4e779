import { loadConfig } from '../config/index.ts';
import { runSchedulerReplica } from '../connectors/schedulers/index.ts';
import { DEFAULT_TICK_LOG_NAMES } from '../connectors/schedulers/tick-log.ts';
import { parseClock, systemClock } from '../lib/clock.ts';
import { describeError } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { simSchedulerNames } from './pipeline.ts';

// The demo's scheduler replica: the schedulers of `regflow schedulers run` on the demo's simulated
// clock (REGFLOW_CLOCK), writing to the real tick topic that scheduler-jobs reads. Its transactional
// id, state group and lease are the run's own (DEMO_SCHEDULER_PREFIX), so every demo starts from a
// clean scheduler state and never touches the state of a real scheduler. (`regflow schedulers run
// --clock simulated:…` writes to a prefixed topic, which scheduler-jobs does not read.)

const config = loadConfig();
const logger = createLogger(config.logLevel);
const clock = parseClock(config.runtime.clock, 'REGFLOW_CLOCK');
const runId = process.env.DEMO_SCHEDULER_PREFIX ?? '';

try {
  if (clock === systemClock) throw new Error('REGFLOW_CLOCK must be a simulated clock for the demo');
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(runId)) throw new Error('DEMO_SCHEDULER_PREFIX: expected the run id');
  const names = simSchedulerNames(runId);
  const running = await runSchedulerReplica({
    config,
    clock,
    logger,
    names: {
      topic: DEFAULT_TICK_LOG_NAMES.topic,
      transactionalId: `${names.prefix}-${DEFAULT_TICK_LOG_NAMES.transactionalId}`,
      stateGroup: names.stateGroup,
    },
    leasePrefix: `${names.prefix}:scheduler`,
  });
  let signals = 0;
  const shutdown = () => {
    if (++signals > 1) process.exit(130);
    void running.stop();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  await running.done;
} catch (err) {
  logger.fatal({ error: describeError(err) }, 'demo scheduler failed');
  process.exit(1);
}
