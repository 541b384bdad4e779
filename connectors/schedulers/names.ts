import { createHash } from 'node:crypto';
import { type Clock, SimulatedClock } from '../../lib/clock.ts';
import { UsageError } from '../../lib/errors.ts';
import { DEFAULT_TICK_LOG_NAMES, type TickLogNames } from './tick-log.ts';

// Which names a scheduler replica uses (`regflow schedulers run`), from its clock and --sim-prefix:
//
//   system clock          the real ones: ticks on `scheduler.ticks` (what scheduler-jobs reads),
//                         transactional id `regflow-scheduler`, state group, lease.
//   simulated, <prefix>   all four under the prefix (`simulated.scheduler.ticks`, ...): simulated
//                         ticks never mix with real ones (the default, prefix `simulated`).
//   simulated, `none`     ticks on the real `scheduler.ticks`, so the pipeline's scheduler-jobs
//                         acts on them (a demo running the whole pipeline on a simulated clock).
//                         The transactional id, state group and lease stay apart, named after the
//                         clock's time line (start, speed, anchor): a simulated time line never
//                         writes the real scheduler's "last fired" state (nor reads it: a real
//                         state ahead of simulated time would fire nothing), replicas sharing one
//                         time line fence each other as usual, and a new time line (a demo run
//                         again) starts afresh. Do not run it beside system-clock schedulers:
//                         scheduler-jobs would act on both kinds of ticks.

export const SIM_PREFIX_NONE = 'none';
export const DEFAULT_SIM_PREFIX = 'simulated';

export interface SchedulerNames {
  names: TickLogNames;
  leasePrefix: string;
}

const REAL: SchedulerNames = { names: DEFAULT_TICK_LOG_NAMES, leasePrefix: 'regflow:scheduler' };

export function schedulerNamesFor(clock: Clock, simPrefix: string = DEFAULT_SIM_PREFIX): SchedulerNames {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(simPrefix))
    throw new UsageError(
      `--sim-prefix: expected "${SIM_PREFIX_NONE}" or letters, digits, ".", "_" and "-" (got ${JSON.stringify(simPrefix)})`,
    );
  if (!(clock instanceof SimulatedClock)) return REAL;
  if (simPrefix === SIM_PREFIX_NONE) {
    const { startMs, speed, anchorMs } = clock.timeline;
    const line = createHash('sha256').update(`${startMs}|${speed}|${anchorMs}`).digest('hex').slice(0, 12);
    const p = `${DEFAULT_SIM_PREFIX}-${line}`;
    return {
      names: {
        topic: DEFAULT_TICK_LOG_NAMES.topic,
        transactionalId: `${p}-${DEFAULT_TICK_LOG_NAMES.transactionalId}`,
        stateGroup: `${p}-${DEFAULT_TICK_LOG_NAMES.stateGroup}`,
      },
      leasePrefix: `${p}:scheduler`,
    };
  }
  return {
    names: {
      topic: `${simPrefix}.${DEFAULT_TICK_LOG_NAMES.topic}`,
      transactionalId: `${simPrefix}-${DEFAULT_TICK_LOG_NAMES.transactionalId}`,
      stateGroup: `${simPrefix}-${DEFAULT_TICK_LOG_NAMES.stateGroup}`,
    },
    leasePrefix: `${simPrefix}:scheduler`,
  };
}
