// Shard lineage and checkpoints of a DynamoDB stream, as pure decisions: which shards to read
// now, from where, which wait for their parents, which are done, and where records may have been
// lost. No AWS SDK here: the reader (shard-reader.ts) describes the stream, this decides.
//
// DynamoDB closes a shard (it gets an EndingSequenceNumber) when it rolls over (about every four
// hours) or splits; the new shards name it as ParentShardId. A key's records move with it to the
// child, so reading every parent to its end before its children keeps per-key order. DynamoDB's
// Shard has one parent; `adjacentParentShardId` is there for Kinesis-style merges (two parents),
// which the rule "every parent finished first" covers as well.

/** One shard as DescribeStream lists it. */
export interface ShardDescription {
  shardId: string;
  parentShardId?: string | undefined;
  /** Kinesis merges only; DynamoDB Streams never sets it. */
  adjacentParentShardId?: string | undefined;
  startingSequenceNumber: string;
  /** Set once the shard is closed: no record is added after it. */
  endingSequenceNumber?: string | undefined;
}

/** How far the connector has emitted a shard (committed in the same Kafka transaction as its records). */
export interface ShardCheckpoint {
  streamArn: string;
  shardId: string;
  /** Sequence number of the last record emitted; null = started, nothing emitted yet (read from TRIM_HORIZON). */
  sequenceNumber: string | null;
  /** The shard is closed and was read to its end (GetRecords answered without a next iterator). */
  finished: boolean;
  /** ApproximateCreationDateTime of the last record emitted (epoch ms), for lag. */
  approximateCreationTime: number | null;
  /** When the connector last committed this checkpoint (epoch ms); rewritten periodically while running. */
  updatedAt: number;
}

export type StartPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export const GapKind = {
  /** GetShardIterator answered TrimmedDataAccessException: records after the checkpoint are gone. */
  TRIMMED: 'TRIMMED',
  /** A shard we had not finished is no longer in the stream. */
  SHARD_GONE: 'SHARD_GONE',
  /** A shard's parent is gone from the stream and we never read it. */
  PARENT_NEVER_READ: 'PARENT_NEVER_READ',
  /** The connector last committed longer ago than the stream's retention. */
  STALE: 'STALE',
  /** The table's stream is not the one our checkpoints belong to (disabled and re-enabled, table re-created). */
  STREAM_CHANGED: 'STREAM_CHANGED',
} as const;
export type GapKind = (typeof GapKind)[keyof typeof GapKind];

/** A place where change records may have been lost. Never skipped silently: the connector stops. */
export interface ShardGap {
  kind: GapKind;
  streamArn: string;
  shardId: string;
  reason: string;
}

export interface ShardPlan {
  /** Shards to read now, each from its start position. */
  read: { shardId: string; start: StartPosition }[];
  /** Closed shards read to their end. */
  finished: string[];
  /** Shards whose parent(s) are not finished yet. */
  waiting: { shardId: string; parents: string[] }[];
  gaps: ShardGap[];
}

export interface PlanInput {
  /** The table's current stream. */
  streamArn: string;
  shards: readonly ShardDescription[];
  /** Every checkpoint of this connector, keyed by shard id (from any stream). */
  checkpoints: ReadonlyMap<string, ShardCheckpoint>;
  now: number;
  /** DynamoDB keeps stream records 24 hours. */
  retentionMs: number;
}

export const STREAM_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Sequence numbers are decimal strings of up to 40 digits: compare them as integers. */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A closed shard is done once read to its end, or once its last record was emitted. */
export function isShardFinished(shard: ShardDescription, checkpoint: ShardCheckpoint | undefined): boolean {
  if (checkpoint === undefined) return false;
  if (checkpoint.finished) return true;
  return (
    shard.endingSequenceNumber !== undefined &&
    checkpoint.sequenceNumber !== null &&
    compareSequenceNumbers(checkpoint.sequenceNumber, shard.endingSequenceNumber) >= 0
  );
}

export const startPositionOf = (checkpoint: ShardCheckpoint | undefined): StartPosition =>
  checkpoint?.sequenceNumber == null
    ? { type: 'TRIM_HORIZON' }
    : { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: checkpoint.sequenceNumber };

const parentsOf = (shard: ShardDescription) =>
  [shard.parentShardId, shard.adjacentParentShardId].filter((p): p is string => typeof p === 'string');

/**
 * Decides which shards to read now. Rules:
 * - a shard with a finished checkpoint (or one at its EndingSequenceNumber) is done;
 * - a shard is read only once each parent is done; a parent that is no longer in the stream is
 *   fine when we finished it, when this shard was already started, or on the very first start
 *   (nothing is checkpointed yet: TRIM_HORIZON means "what the stream still has");
 * - a shard we had not finished that is gone, a parent gone before we read it, checkpoints of
 *   another stream, or a connector silent for longer than the retention: a gap.
 */
export function planShards(input: PlanInput): ShardPlan {
  const { streamArn, shards, checkpoints, now, retentionMs } = input;
  const own = new Map([...checkpoints].filter(([, c]) => c.streamArn === streamArn));
  const plan: ShardPlan = { read: [], finished: [], waiting: [], gaps: [] };
  const gapFor = new Set<string>();
  const addGap = (gap: ShardGap) => {
    if (gapFor.has(gap.shardId)) return;
    gapFor.add(gap.shardId);
    plan.gaps.push(gap);
  };

  if (own.size === 0 && checkpoints.size > 0) {
    const previous = [...new Set([...checkpoints.values()].map((c) => c.streamArn))];
    addGap({
      kind: GapKind.STREAM_CHANGED,
      streamArn,
      shardId: '*',
      reason: `the table's stream is now ${streamArn}, but the checkpoints belong to ${previous.join(', ')}: changes made while the stream was off are in no stream`,
    });
    return plan;
  }

  const firstStart = own.size === 0;
  const lastCommit = Math.max(...[...own.values()].map((c) => c.updatedAt));
  const stale = !firstStart && now - lastCommit > retentionMs;
  const byId = new Map(shards.map((s) => [s.shardId, s]));
  const done = (id: string) => {
    const s = byId.get(id);
    return s === undefined ? own.get(id)?.finished === true : isShardFinished(s, own.get(id));
  };

  for (const c of own.values()) {
    if (!byId.has(c.shardId) && !c.finished) {
      addGap({
        kind: GapKind.SHARD_GONE,
        streamArn,
        shardId: c.shardId,
        reason: `shard ${c.shardId} left the stream before it was read to its end (last emitted ${c.sequenceNumber ?? 'nothing'})`,
      });
    }
  }

  for (const shard of shards) {
    const checkpoint = own.get(shard.shardId);
    if (done(shard.shardId)) {
      plan.finished.push(shard.shardId);
      continue;
    }
    const pending: string[] = [];
    for (const parent of parentsOf(shard)) {
      if (byId.has(parent)) {
        if (!done(parent)) pending.push(parent);
        continue;
      }
      const parentCheckpoint = own.get(parent);
      if (parentCheckpoint?.finished || checkpoint !== undefined || firstStart) continue;
      if (parentCheckpoint === undefined) {
        addGap({
          kind: GapKind.PARENT_NEVER_READ,
          streamArn,
          shardId: shard.shardId,
          reason: `parent ${parent} of shard ${shard.shardId} left the stream before the connector read it`,
        });
      }
      // An unfinished parent that is gone is reported as SHARD_GONE above.
      else pending.push(parent);
    }
    if (stale) {
      addGap({
        kind: GapKind.STALE,
        streamArn,
        shardId: shard.shardId,
        reason: `the connector last committed at ${new Date(lastCommit).toISOString()}, longer ago than the stream's retention (${retentionMs / 3_600_000} h): records of shard ${shard.shardId} may have been trimmed`,
      });
      continue;
    }
    if (gapFor.has(shard.shardId)) continue;
    if (pending.length > 0) plan.waiting.push({ shardId: shard.shardId, parents: pending });
    else plan.read.push({ shardId: shard.shardId, start: startPositionOf(checkpoint) });
  }
  return plan;
}

/**
 * Finished checkpoints of shards that left the stream and that no shard of the stream names as
 * a parent: nothing can ask about them again, so they can be deleted (tombstoned).
 */
export function prunableCheckpoints(
  streamArn: string,
  shards: readonly ShardDescription[],
  checkpoints: ReadonlyMap<string, ShardCheckpoint>,
): string[] {
  const present = new Set(shards.map((s) => s.shardId));
  const parents = new Set(shards.flatMap(parentsOf));
  return [...checkpoints.values()]
    .filter(
      (c) => c.streamArn === streamArn && c.finished && !present.has(c.shardId) && !parents.has(c.shardId),
    )
    .map((c) => c.shardId);
}

/**
 * Checkpoints to rewrite as `finished`: closed shards whose last record was emitted (checkpoint at
 * their EndingSequenceNumber) but that no GetRecords answer has ended yet. DynamoDB gives no order
 * between DescribeStream showing a shard closed and its iterator running out (a split parent whose
 * records were all read while it was open is the usual case), and once the plan counts such a
 * shard as done nothing reads it again: without this its checkpoint would stay unfinished, and
 * when it left the stream (24 h later) the connector would halt on a false SHARD_GONE gap.
 */
export function finishedUnmarked(
  streamArn: string,
  shards: readonly ShardDescription[],
  checkpoints: ReadonlyMap<string, ShardCheckpoint>,
): ShardCheckpoint[] {
  const out: ShardCheckpoint[] = [];
  for (const shard of shards) {
    const c = checkpoints.get(shard.shardId);
    if (c === undefined || c.streamArn !== streamArn || c.finished) continue;
    if (isShardFinished(shard, c)) out.push({ ...c, finished: true });
  }
  return out;
}

/** What `regflow connector reset --accept-gap` writes for each gap: null deletes a checkpoint. */
export type CheckpointWrite = { shardId: string; checkpoint: ShardCheckpoint | null };

/**
 * Accepting a gap means: continue from what the stream still has. A trimmed or stale shard
 * restarts at TRIM_HORIZON (its checkpoint kept, so lineage still knows it was started); a shard
 * that is gone counts as finished; a child whose parent was never read starts now; checkpoints
 * of a previous stream are deleted, so the current stream starts from TRIM_HORIZON.
 */
export function acceptGaps(
  gaps: readonly ShardGap[],
  checkpoints: ReadonlyMap<string, ShardCheckpoint>,
  now: number,
): CheckpointWrite[] {
  const writes = new Map<string, ShardCheckpoint | null>();
  for (const gap of gaps) {
    const current = checkpoints.get(gap.shardId);
    const blank: ShardCheckpoint = {
      streamArn: gap.streamArn,
      shardId: gap.shardId,
      sequenceNumber: null,
      finished: false,
      approximateCreationTime: null,
      updatedAt: now,
    };
    switch (gap.kind) {
      case GapKind.STREAM_CHANGED:
        for (const c of checkpoints.values()) if (c.streamArn !== gap.streamArn) writes.set(c.shardId, null);
        break;
      case GapKind.SHARD_GONE:
        writes.set(gap.shardId, { ...(current ?? blank), finished: true, updatedAt: now });
        break;
      case GapKind.TRIMMED:
      case GapKind.PARENT_NEVER_READ:
        writes.set(gap.shardId, {
          ...(current ?? blank),
          sequenceNumber: null,
          finished: false,
          updatedAt: now,
        });
        break;
      case GapKind.STALE:
        writes.set(gap.shardId, { ...(current ?? blank), updatedAt: now });
        break;
    }
  }
  // A stale connector: refresh every checkpoint of the stream, or the next start finds it stale again.
  if (gaps.some((g) => g.kind === GapKind.STALE)) {
    for (const c of checkpoints.values()) {
      if (!writes.has(c.shardId) && c.streamArn === gaps[0]?.streamArn)
        writes.set(c.shardId, { ...c, updatedAt: now });
    }
  }
  return [...writes].map(([shardId, checkpoint]) => ({ shardId, checkpoint }));
}
