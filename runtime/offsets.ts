import type { Admin, ConsumerGroupState } from 'kafkajs';
import { UsageError } from '../lib/errors.ts';

// Consumer-group offset resets with the semantics of `kafka-consumer-groups --reset-offsets`.
// planReset is pure (every input already fetched) so the rules are unit-tested without a broker;
// the functions below it do the admin I/O.

export const ResetMode = { EARLIEST: 'earliest', DATETIME: 'datetime', SHIFT: 'shift' } as const;
export type ResetMode = (typeof ResetMode)[keyof typeof ResetMode];

export interface ResetSpec {
  mode: ResetMode;
  /** mode 'datetime': reset to the first offset whose timestamp is at or after this instant. */
  datetime?: Date;
  /** mode 'shift': move each partition by this many offsets (negative = back). */
  shiftBy?: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** An offset per partition; null = none (no committed offset, or no record at or after the time). */
export interface PartitionOffset extends TopicPartition {
  offset: number | null;
}

/** `low` = first offset still in the log, `high` = the next offset to be written (last stable offset). */
export interface Watermarks extends TopicPartition {
  low: number;
  high: number;
}

export interface PlanRow extends TopicPartition {
  /** The group's committed offset; null when it has none. */
  current: number | null;
  target: number;
}

const keyOf = (tp: TopicPartition) => `${tp.topic}\u0000${tp.partition}`;

function index(rows: readonly PartitionOffset[]): Map<string, number | null> {
  return new Map(rows.map((r) => [keyOf(r), r.offset]));
}

const clamp = (offset: number, w: Watermarks) => Math.min(Math.max(offset, w.low), w.high);

/**
 * One row per partition of `watermarks` (those are the partitions being reset), grouped by topic in
 * the order given, partitions ascending. Every target is clamped to [low, high], as
 * kafka-consumer-groups does, so a reset never points before the log start or past its end.
 *
 * - earliest: low.
 * - datetime: the offset for the time; a partition with no record at or after it gets high.
 * - shift: current + shiftBy. A partition with no committed offset shifts from low: regflow's
 *   processors start a group without offsets from the earliest record, so low is where that
 *   group would read next. (kafka-consumer-groups refuses such a partition instead.)
 */
export function planReset(
  spec: ResetSpec,
  committed: readonly PartitionOffset[],
  watermarks: readonly Watermarks[],
  offsetsForTime: readonly PartitionOffset[] = [],
): PlanRow[] {
  if (spec.mode === ResetMode.SHIFT && !Number.isSafeInteger(spec.shiftBy)) {
    throw new UsageError(`shift needs an integer shiftBy (got ${spec.shiftBy})`);
  }
  if (
    spec.mode === ResetMode.DATETIME &&
    (spec.datetime === undefined || Number.isNaN(spec.datetime.getTime()))
  ) {
    throw new UsageError('datetime reset needs a valid datetime');
  }
  const current = index(committed);
  const atTime = index(offsetsForTime);

  const targetOf = (w: Watermarks, cur: number | null): number => {
    switch (spec.mode) {
      case ResetMode.EARLIEST:
        return w.low;
      case ResetMode.DATETIME: {
        if (!atTime.has(keyOf(w))) {
          throw new Error(`no offset for time was fetched for ${w.topic}/${w.partition}`);
        }
        const offset = atTime.get(keyOf(w)) ?? null;
        // ListOffsets answers -1 when every record is older than the time.
        return offset === null || offset < 0 ? w.high : offset;
      }
      case ResetMode.SHIFT:
        return (cur ?? w.low) + spec.shiftBy!;
    }
  };

  // Topics keep the order the caller gave (a processor's inputs before its retry tiers).
  const topicRank = new Map<string, number>();
  for (const w of watermarks) if (!topicRank.has(w.topic)) topicRank.set(w.topic, topicRank.size);
  return [...watermarks]
    .sort((a, b) => topicRank.get(a.topic)! - topicRank.get(b.topic)! || a.partition - b.partition)
    .map((w) => {
      const cur = current.get(keyOf(w)) ?? null;
      return { topic: w.topic, partition: w.partition, current: cur, target: clamp(targetOf(w, cur), w) };
    });
}

// --- admin I/O ---------------------------------------------------------------------------------

export interface GroupStatus {
  groupId: string;
  state: ConsumerGroupState;
  members: number;
  /** Has (or is about to have) consumers: its offsets must not be changed under it. */
  live: boolean;
}

/** Empty and Dead (Kafka's answer for a group that does not exist) are the only states safe to reset. */
export const isLiveGroup = (state: ConsumerGroupState, members: number) =>
  members > 0 || (state !== 'Empty' && state !== 'Dead');

export async function readGroupStatus(admin: Admin, groupId: string): Promise<GroupStatus> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups.find((g) => g.groupId === groupId);
  const state = group?.state ?? 'Dead';
  const members = group?.members.length ?? 0;
  return { groupId, state, members, live: isLiveGroup(state, members) };
}

export async function groupIsLive(admin: Admin, groupId: string): Promise<boolean> {
  return (await readGroupStatus(admin, groupId)).live;
}

/** The group's committed offsets on `topics`, one row per partition (offset null = none committed). */
export async function readGroupOffsets(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<PartitionOffset[]> {
  if (topics.length === 0) return [];
  const fetched = await admin.fetchOffsets({ groupId, topics: [...topics] });
  return fetched.flatMap(({ topic, partitions }) =>
    partitions.map((p) => {
      const n = Number(p.offset);
      return { topic, partition: p.partition, offset: n >= 0 ? n : null };
    }),
  );
}

/** Low and high (last stable) offsets of every partition of `topics`. */
export async function readWatermarks(admin: Admin, topics: readonly string[]): Promise<Watermarks[]> {
  const perTopic = await Promise.all(
    topics.map(async (topic) =>
      (await admin.fetchTopicOffsets(topic)).map((p) => ({
        topic,
        partition: p.partition,
        low: Number(p.low),
        high: Number(p.high),
      })),
    ),
  );
  return perTopic.flat();
}

/** Per partition, the first offset with a timestamp at or after `at` (kafkajs answers high when none). */
export async function readOffsetsForTime(
  admin: Admin,
  topics: readonly string[],
  at: Date,
): Promise<PartitionOffset[]> {
  const perTopic = await Promise.all(
    topics.map(async (topic) =>
      (await admin.fetchTopicOffsetsByTimestamp(topic, at.getTime())).map((p) => ({
        topic,
        partition: p.partition,
        offset: Number(p.offset),
      })),
    ),
  );
  return perTopic.flat();
}

/**
 * Commits the plan's targets for `groupId`, one admin.setOffsets per topic. kafkajs refuses there
 * too when the group has running members, which closes the gap between our check and the write.
 */
export async function applyReset(admin: Admin, groupId: string, plan: readonly PlanRow[]): Promise<number> {
  const byTopic = new Map<string, PlanRow[]>();
  for (const row of plan) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
  for (const [topic, rows] of byTopic) {
    await admin.setOffsets({
      groupId,
      topic,
      partitions: rows.map((r) => ({ partition: r.partition, offset: String(r.target) })),
    });
  }
  return plan.length;
}
