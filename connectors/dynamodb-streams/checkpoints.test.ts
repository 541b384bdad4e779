import { describe, expect, it } from 'vitest';
import type { ConnectorCheckpoint } from '../../schemas/types.generated.ts';
import {
  foldCheckpoints,
  shardCheckpointRecord,
  shardKeyOf,
  snapshotKeyOf,
  toShardCheckpoint,
} from './checkpoints.ts';
import type { ShardCheckpoint } from './shards.ts';

const shard = (shardId: string, sequenceNumber: string | null, updatedAt = 1): ShardCheckpoint => ({
  streamArn: 'arn:s',
  shardId,
  sequenceNumber,
  finished: false,
  approximateCreationTime: null,
  updatedAt,
});
const record = (id: string, c: ShardCheckpoint) => ({
  key: shardKeyOf(id, c.shardId),
  value: shardCheckpointRecord(id, 't', c),
});

describe('checkpoints', () => {
  it('round-trips a shard checkpoint through its record', () => {
    const c = { ...shard('s-1', '123'), finished: true, approximateCreationTime: 5 };
    expect(toShardCheckpoint(shardCheckpointRecord('conn-t', 't', c))).toEqual(c);
  });

  it('keeps the latest record per key, drops tombstoned ones, and ignores other connectors', () => {
    const snapshot: ConnectorCheckpoint = {
      ...shardCheckpointRecord('conn-t', 't', shard('x', null)),
      kind: 'SNAPSHOT',
      streamArn: null,
      shardId: null,
      snapshotId: 'initial',
      scanCursor: '{"PK":{"S":"a"}}',
      itemsEmitted: 10,
    };
    const folded = foldCheckpoints('conn-t', [
      record('conn-t', shard('s-1', '100')),
      record('conn-t', shard('s-2', '200')),
      record('conn-t-other', shard('s-3', '300')),
      record('conn-t', shard('s-1', '150', 2)),
      { key: shardKeyOf('conn-t', 's-2'), value: null },
      { key: snapshotKeyOf('conn-t', 'initial'), value: snapshot },
    ]);
    expect([...folded.shards.values()]).toEqual([shard('s-1', '150', 2)]);
    expect(folded.snapshots.get('initial')?.itemsEmitted).toBe(10);
  });
});
