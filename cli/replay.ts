import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { createKafka } from '../lib/clients.ts';
import { PermanentError, UsageError } from '../lib/errors.ts';
import { formatTable } from '../lib/format.ts';
import {
  applyReset,
  type PlanRow,
  planReset,
  type ResetSpec,
  readGroupOffsets,
  readGroupStatus,
  readOffsetsForTime,
  readWatermarks,
} from '../runtime/offsets.ts';
import { topology } from '../topology/index.ts';
import { retryTopicName, type Topology } from '../topology/types.ts';

// `regflow replay <processor>`: moves a stopped processor's consumer group back (or forward) the
// way `kafka-consumer-groups --reset-offsets` does. Dry run unless --execute.

interface ReplayOptions {
  toEarliest?: boolean;
  toDatetime?: string;
  shiftBy?: string;
  topic: string[];
  execute?: boolean;
}

// A zone is required: "12:00" alone would mean the machine's local time, a different instant on
// every operator's laptop.
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

export function parseDatetime(raw: string): Date {
  const at = new Date(raw);
  if (!ISO_DATETIME.test(raw) || Number.isNaN(at.getTime())) {
    throw new UsageError(
      `--to-datetime must be an ISO 8601 date-time with a zone, e.g. 2025-06-01T09:30:00Z (got "${raw}")`,
    );
  }
  return at;
}

export function parseShift(raw: string): number {
  const n = Number(raw);
  if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new UsageError(`--shift-by must be an integer, e.g. -100 or 50 (got "${raw}")`);
  }
  return n;
}

export function resetSpecOf(
  options: Pick<ReplayOptions, 'toEarliest' | 'toDatetime' | 'shiftBy'>,
): ResetSpec {
  const given = [
    options.toEarliest === true,
    options.toDatetime !== undefined,
    options.shiftBy !== undefined,
  ];
  if (given.filter(Boolean).length !== 1) {
    throw new UsageError('give exactly one of --to-earliest, --to-datetime <ISO>, --shift-by <N>');
  }
  if (options.toDatetime !== undefined)
    return { mode: 'datetime', datetime: parseDatetime(options.toDatetime) };
  if (options.shiftBy !== undefined) return { mode: 'shift', shiftBy: parseShift(options.shiftBy) };
  return { mode: 'earliest' };
}

/** The topics a processor's group consumes: its inputs and its retry tiers. */
export function inputTopicsOf(graph: Topology, processor: string): string[] {
  const spec = graph.processors.find((p) => p.name === processor);
  if (spec === undefined) {
    const known = graph.processors.map((p) => p.name).join(', ') || 'none';
    throw new UsageError(
      `unknown processor "${processor}" (known processors: ${known}); or name topics with --topic`,
    );
  }
  return [...spec.inputs, ...spec.retry.tierDelaysMs.map((_, i) => retryTopicName(processor, i + 1))];
}

export function formatPlan(plan: readonly PlanRow[]): string {
  return formatTable(
    ['TOPIC', 'PARTITION', 'CURRENT', 'TARGET'],
    plan.map((r) => [
      r.topic,
      String(r.partition),
      r.current === null ? '-' : String(r.current),
      String(r.target),
    ]),
  );
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      "reset a stopped processor's consumer-group offsets (like kafka-consumer-groups --reset-offsets); " +
        "targets are clamped to each partition's earliest and latest offsets; dry run unless --execute",
    )
    .argument('<processor>', 'processor name (= consumer group id)')
    .option('--to-earliest', 'reset to the earliest offset still in each partition')
    .option(
      '--to-datetime <iso>',
      'reset to the first record at or after this time, e.g. 2025-06-01T09:30:00Z',
    )
    .option(
      '--shift-by <n>',
      'move each partition n offsets (negative = back); a partition without a committed offset moves from its earliest',
    )
    .option(
      '--topic <topic>',
      'reset only this topic (repeatable); default: the processor inputs and retry topics',
      collect,
      [],
    )
    .option('--execute', 'apply the plan; without it, only print it')
    .action(async (processor: string, options: ReplayOptions) => {
      const spec = resetSpecOf(options);
      const topics =
        options.topic.length > 0 ? [...new Set(options.topic)] : inputTopicsOf(topology, processor);
      const kafka = createKafka(loadConfig().kafka);
      const admin = kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t));
        if (missing.length > 0)
          throw new UsageError(`unknown topic${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);

        const status = await readGroupStatus(admin, processor);
        const members = `${status.members} live member${status.members === 1 ? '' : 's'}`;
        const refusal = `consumer group "${processor}" has ${members} (state ${status.state}); stop the processor first`;
        if (options.execute && status.live) throw new PermanentError(refusal);

        const [committed, watermarks, forTime] = await Promise.all([
          readGroupOffsets(admin, processor, topics),
          readWatermarks(admin, topics),
          spec.mode === 'datetime' ? readOffsetsForTime(admin, topics, spec.datetime!) : Promise.resolve([]),
        ]);
        const plan = planReset(spec, committed, watermarks, forTime);
        console.log(formatPlan(plan));
        if (!options.execute) {
          if (status.live) console.log(`note: ${refusal}`);
          console.log('dry run; add --execute to apply');
          return;
        }
        const n = await applyReset(admin, processor, plan);
        console.log(`reset ${n} partition${n === 1 ? '' : 's'} of consumer group "${processor}"`);
      } finally {
        await admin.disconnect();
      }
    });
}
