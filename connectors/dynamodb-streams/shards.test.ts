import { describe, expect, it } from 'vitest';
import {
  acceptGaps,
  compareSequenceNumbers,
  finishedUnmarked,
  GapKind,
  isShardFinished,
  type PlanInput,
  planShards,
  prunableCheckpoints,
  type ShardCheckpoint,
  type ShardDescription,
  STREAM_RETENTION_MS,
} from './shards.ts';

// Real DynamoDB shapes: shard ids like DescribeStream's, 21-digit sequence numbers, a shard that
// rolls over (one child) and one that splits (two children). The local server never does either.

const ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/demand-table/stream/2026-11-20T10:00:00.000';
const NOW = Date.parse('2026-11-26T12:00:00Z');

const shard = (
  id: string,
  start: string,
  end?: string,
  parent?: string,
  adjacentParent?: string,
): ShardDescription => ({
  shardId: `shardId-${id}`,
  startingSequenceNumber: start,
  ...(end === undefined ? {} : { endingSequenceNumber: end }),
  ...(parent === undefined ? {} : { parentShardId: `shardId-${parent}` }),
  ...(adjacentParent === undefined ? {} : { adjacentParentShardId: `shardId-${adjacentParent}` }),
});

const cp = (id: string, seq: string | null, extra: Partial<ShardCheckpoint> = {}): ShardCheckpoint => ({
  streamArn: ARN,
  shardId: `shardId-${id}`,
  sequenceNumber: seq,
  finished: false,
  approximateCreationTime: null,
  updatedAt: NOW - 60_000,
  ...extra,
});

const checkpoints = (...list: ShardCheckpoint[]) => new Map(list.map((c) => [c.shardId, c]));

const plan = (
  shards: ShardDescription[],
  cps: Map<string, ShardCheckpoint>,
  extra: Partial<PlanInput> = {},
) =>
  planShards({
    streamArn: ARN,
    shards,
    checkpoints: cps,
    now: NOW,
    retentionMs: STREAM_RETENTION_MS,
    ...extra,
  });

const ids = (list: { shardId: string }[]) => list.map((s) => s.shardId.replace('shardId-', ''));

// A closed parent A that split into B and C; B rolled over into D (open); C is open.
const A = shard('A', '100000000000000000100', '100000000000000000500');
const B = shard('B', '100000000000000000600', '100000000000000000900', 'A');
const C = shard('C', '100000000000000000610', undefined, 'A');
const D = shard('D', '100000000000000001000', undefined, 'B');
const SPLIT = [A, B, C, D];

describe('planShards: lineage', () => {
  it('on the first start reads the oldest shard from TRIM_HORIZON and holds its children back', () => {
    const p = plan(SPLIT, checkpoints());
    expect(p.read).toEqual([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
    expect(p.waiting.map((w) => [w.shardId, w.parents])).toEqual([
      ['shardId-B', ['shardId-A']],
      ['shardId-C', ['shardId-A']],
      ['shardId-D', ['shardId-B']],
    ]);
    expect(p.gaps).toEqual([]);
  });

  it('resumes a shard after its last emitted sequence number', () => {
    const p = plan(SPLIT, checkpoints(cp('A', '100000000000000000300')));
    expect(p.read).toEqual([
      {
        shardId: 'shardId-A',
        start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '100000000000000000300' },
      },
    ]);
  });

  it('reads both children of a split once the parent is finished, and the grandchild only after its parent', () => {
    const p = plan(SPLIT, checkpoints(cp('A', '100000000000000000480', { finished: true })));
    expect(ids(p.read)).toEqual(['B', 'C']);
    expect(p.read.every((r) => r.start.type === 'TRIM_HORIZON')).toBe(true);
    expect(p.finished).toEqual(['shardId-A']);
    expect(ids(p.waiting)).toEqual(['D']);
  });

  it('counts a closed shard as finished when its checkpoint reached the EndingSequenceNumber', () => {
    expect(isShardFinished(A, cp('A', '100000000000000000500'))).toBe(true);
    expect(isShardFinished(A, cp('A', '100000000000000000499'))).toBe(false);
    expect(isShardFinished(C, cp('C', '999999999999999999999'))).toBe(false); // open shards never finish
    const p = plan(SPLIT, checkpoints(cp('A', '100000000000000000500')));
    expect(ids(p.read)).toEqual(['B', 'C']);
  });

  it('does not treat a parent as finished just because a child already has records', () => {
    const p = plan(SPLIT, checkpoints(cp('A', '100000000000000000300'), cp('B', '100000000000000000700')));
    // B was started in a previous run only if A was done, but A's checkpoint says otherwise: wait.
    expect(ids(p.read)).toEqual(['A']);
    expect(ids(p.waiting)).toEqual(['B', 'C', 'D']);
  });

  it('reads a child whose finished parent was trimmed out of the stream', () => {
    const p = plan([B, C, D], checkpoints(cp('A', '100000000000000000500', { finished: true })));
    expect(ids(p.read)).toEqual(['B', 'C']);
    expect(p.gaps).toEqual([]);
  });

  it('on the first start reads shards whose parents are already trimmed away', () => {
    const p = plan([B, C, D], checkpoints());
    expect(ids(p.read)).toEqual(['B', 'C']);
    expect(p.gaps).toEqual([]);
  });

  it('keeps reading a started shard whose parent left the stream', () => {
    const p = plan([B, C, D], checkpoints(cp('B', null), cp('C', '100000000000000000700')));
    expect(p.read.map((r) => [r.shardId, r.start.type])).toEqual([
      ['shardId-B', 'TRIM_HORIZON'],
      ['shardId-C', 'AFTER_SEQUENCE_NUMBER'],
    ]);
  });

  it('waits for both parents of a merge (Kinesis-shaped; DynamoDB never merges)', () => {
    const E = shard('E', '100000000000000002000', undefined, 'C', 'D');
    const closedC = { ...C, endingSequenceNumber: '100000000000000001500' };
    const closedD = { ...D, endingSequenceNumber: '100000000000000001600' };
    const cps = checkpoints(
      cp('A', null, { finished: true }),
      cp('B', null, { finished: true }),
      cp('C', '100000000000000001500'),
      cp('D', '100000000000000001200'),
    );
    const p = plan([A, B, closedC, closedD, E], cps);
    expect(ids(p.read)).toEqual(['D']);
    expect(p.waiting).toEqual([{ shardId: 'shardId-E', parents: ['shardId-D'] }]);
    const later = plan(
      [A, B, closedC, closedD, E],
      new Map([...cps, ['shardId-D', cp('D', null, { finished: true })]]),
    );
    expect(ids(later.read)).toEqual(['E']);
  });

  it('finishes nothing and reads nothing twice when everything is done', () => {
    const cps = checkpoints(
      cp('A', null, { finished: true }),
      cp('B', null, { finished: true }),
      cp('C', '100000000000000000800'),
      cp('D', '100000000000000001100'),
    );
    const p = plan(SPLIT, cps);
    expect(ids(p.read)).toEqual(['C', 'D']);
    expect(p.finished).toEqual(['shardId-A', 'shardId-B']);
  });
});

describe('planShards: gaps are reported, never skipped', () => {
  it('reports a shard that left the stream before we read it to its end', () => {
    const p = plan([B, C, D], checkpoints(cp('A', '100000000000000000300')));
    expect(p.gaps.map((g) => [g.kind, g.shardId])).toEqual([[GapKind.SHARD_GONE, 'shardId-A']]);
    // Its children still wait: reading them would put their records before A's missing ones.
    expect(p.read).toEqual([]);
    expect(ids(p.waiting)).toEqual(['B', 'C', 'D']);
  });

  it('reports a parent that left the stream before the connector ever saw it', () => {
    const p = plan([B, C], checkpoints(cp('X', '100000000000000000050', { finished: true })));
    expect(p.gaps.map((g) => [g.kind, g.shardId])).toEqual([
      [GapKind.PARENT_NEVER_READ, 'shardId-B'],
      [GapKind.PARENT_NEVER_READ, 'shardId-C'],
    ]);
    expect(p.read).toEqual([]);
  });

  it('reports every unfinished shard when the connector last committed longer ago than the retention', () => {
    const old = NOW - STREAM_RETENTION_MS - 1;
    const p = plan(SPLIT, checkpoints(cp('A', '100000000000000000300', { updatedAt: old })));
    expect(p.gaps.map((g) => [g.kind, g.shardId])).toEqual([
      [GapKind.STALE, 'shardId-A'],
      [GapKind.STALE, 'shardId-B'],
      [GapKind.STALE, 'shardId-C'],
      [GapKind.STALE, 'shardId-D'],
    ]);
    expect(p.read).toEqual([]);
    expect(p.gaps[0]?.reason).toContain('24 h');
  });

  it('reports checkpoints of another stream (the stream was disabled and enabled again)', () => {
    const other = cp('A', '100000000000000000300', { streamArn: `${ARN}-old` });
    const p = plan(SPLIT, checkpoints(other));
    expect(p.gaps).toHaveLength(1);
    expect(p.gaps[0]?.kind).toBe(GapKind.STREAM_CHANGED);
    expect(p.read).toEqual([]);
  });
});

describe('acceptGaps (regflow connector reset --accept-gap)', () => {
  it('restarts a trimmed shard at TRIM_HORIZON and keeps it known as started', () => {
    const cps = checkpoints(cp('A', '100000000000000000300'));
    const writes = acceptGaps(
      [{ kind: GapKind.TRIMMED, streamArn: ARN, shardId: 'shardId-A', reason: 'trimmed' }],
      cps,
      NOW,
    );
    expect(writes).toEqual([{ shardId: 'shardId-A', checkpoint: { ...cp('A', null), updatedAt: NOW } }]);
    const after = plan(SPLIT, checkpoints(writes[0]!.checkpoint!));
    expect(after.read).toEqual([{ shardId: 'shardId-A', start: { type: 'TRIM_HORIZON' } }]);
  });

  it('marks a gone shard finished so its children can be read', () => {
    const cps = checkpoints(cp('A', '100000000000000000300'));
    const p = plan([B, C, D], cps);
    const writes = acceptGaps(p.gaps, cps, NOW);
    const after = plan([B, C, D], checkpoints(...writes.map((w) => w.checkpoint!)));
    expect(after.gaps).toEqual([]);
    expect(ids(after.read)).toEqual(['B', 'C']);
  });

  it('refreshes every checkpoint of a stale connector', () => {
    const old = NOW - 2 * STREAM_RETENTION_MS;
    const cps = checkpoints(
      cp('A', null, { finished: true, updatedAt: old }),
      cp('B', '100000000000000000700', { updatedAt: old }),
    );
    const writes = acceptGaps(plan(SPLIT, cps).gaps, cps, NOW);
    const after = plan(SPLIT, checkpoints(...writes.map((w) => w.checkpoint!)));
    expect(after.gaps).toEqual([]);
    expect(after.read.map((r) => [r.shardId, r.start])).toEqual([
      ['shardId-B', { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '100000000000000000700' }],
      ['shardId-C', { type: 'TRIM_HORIZON' }],
    ]);
  });

  it('deletes the checkpoints of a previous stream, so the new one starts from TRIM_HORIZON', () => {
    const cps = checkpoints(cp('A', '100000000000000000300', { streamArn: `${ARN}-old` }));
    const writes = acceptGaps(plan(SPLIT, cps).gaps, cps, NOW);
    expect(writes).toEqual([{ shardId: 'shardId-A', checkpoint: null }]);
    expect(ids(plan(SPLIT, checkpoints()).read)).toEqual(['A']);
  });
});

describe('checkpoint housekeeping', () => {
  it('marks finished a closed shard emitted to its EndingSequenceNumber that no GetRecords ended', () => {
    const cps = checkpoints(
      cp('A', '100000000000000000500'), // emitted to its end, not marked: the split parent case
      cp('B', '100000000000000000800'), // closed, not emitted to its end yet
      cp('C', '100000000000000000700'), // open
      cp('D', null),
    );
    expect(finishedUnmarked(ARN, SPLIT, cps)).toEqual([{ ...cps.get('shardId-A')!, finished: true }]);
    // Already marked, of another stream, or gone from the stream: nothing to write.
    const marked = checkpoints(cp('A', '100000000000000000500', { finished: true }));
    expect(finishedUnmarked(ARN, SPLIT, marked)).toEqual([]);
    const other = checkpoints(cp('A', '100000000000000000500', { streamArn: `${ARN}-old` }));
    expect(finishedUnmarked(ARN, SPLIT, other)).toEqual([]);
    expect(finishedUnmarked(ARN, [B, C, D], cps)).toEqual([]);
  });

  it('prunes finished shards that left the stream once no shard names them as parent', () => {
    const cps = checkpoints(
      cp('A', null, { finished: true }),
      cp('B', null, { finished: true }),
      cp('C', '100000000000000000800'),
    );
    // A left the stream but C still names it as parent: kept. B left and D is gone too: pruned.
    expect(prunableCheckpoints(ARN, [C], cps)).toEqual(['shardId-B']);
    expect(prunableCheckpoints(ARN, [B, C, D], cps)).toEqual([]);
  });

  it('compares 21-digit sequence numbers as integers, not as strings or doubles', () => {
    expect(compareSequenceNumbers('99', '100')).toBe(-1);
    expect(compareSequenceNumbers('100000000000000000001', '100000000000000000000')).toBe(1);
    expect(compareSequenceNumbers('100000000000000000001', '100000000000000000001')).toBe(0);
  });
});
