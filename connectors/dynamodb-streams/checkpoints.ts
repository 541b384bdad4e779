import type { Admin, Kafka } from 'kafkajs';
import { readTopic } from '../../cli/tail.ts';
import type { Codec } from '../../runtime/codec.ts';
import type { ConnectorCheckpoint } from '../../schemas/types.generated.ts';
import type { ShardCheckpoint } from './shards.ts';

// Checkpoints live on a compacted Kafka topic (like Kafka Connect's offsets topic), written in
// the same transaction as the change records they account for. Key `<connector>|shard:<id>` or
// `<connector>|snapshot:<id>`; a null value (tombstone) deletes a position. On start, after
// InitProducerId has fenced any previous instance, the topic is read read-committed to its end.

/** The connector's one name: transactional id, lease key, checkpoint key prefix, metrics label. */
export const connectorIdOf = (name: string, table: string) => `${name}-${table}`;

export const shardKeyOf = (connectorId: string, shardId: string) => `${connectorId}|shard:${shardId}`;
export const snapshotKeyOf = (connectorId: string, snapshotId: string) =>
  `${connectorId}|snapshot:${snapshotId}`;

export function shardCheckpointRecord(
  connectorId: string,
  table: string,
  c: ShardCheckpoint,
): ConnectorCheckpoint {
  return {
    connector: connectorId,
    table,
    kind: 'SHARD',
    streamArn: c.streamArn,
    shardId: c.shardId,
    sequenceNumber: c.sequenceNumber,
    finished: c.finished,
    approximateCreationTime: c.approximateCreationTime,
    snapshotId: null,
    scanCursor: null,
    itemsEmitted: 0,
    updatedAt: c.updatedAt,
  };
}

export function toShardCheckpoint(r: ConnectorCheckpoint): ShardCheckpoint | null {
  if (r.kind !== 'SHARD' || r.streamArn === null || r.shardId === null) return null;
  return {
    streamArn: r.streamArn,
    shardId: r.shardId,
    sequenceNumber: r.sequenceNumber,
    finished: r.finished,
    approximateCreationTime: r.approximateCreationTime,
    updatedAt: r.updatedAt,
  };
}

export interface RestoredCheckpoints {
  shards: Map<string, ShardCheckpoint>;
  snapshots: Map<string, ConnectorCheckpoint>;
}

/** Folds checkpoint records (in log order) into the latest state per key of one connector. */
export function foldCheckpoints(
  connectorId: string,
  records: Iterable<{ key: string; value: ConnectorCheckpoint | null }>,
): RestoredCheckpoints {
  const latest = new Map<string, ConnectorCheckpoint | null>();
  for (const r of records) if (r.key.startsWith(`${connectorId}|`)) latest.set(r.key, r.value);
  const out: RestoredCheckpoints = { shards: new Map(), snapshots: new Map() };
  for (const value of latest.values()) {
    if (value === null) continue;
    const shard = toShardCheckpoint(value);
    if (shard !== null) out.shards.set(shard.shardId, shard);
    else if (value.kind === 'SNAPSHOT' && value.snapshotId !== null)
      out.snapshots.set(value.snapshotId, value);
  }
  return out;
}

/** Reads the checkpoints topic read-committed to its end and keeps this connector's latest state. */
export async function restoreCheckpoints(
  kafka: Kafka,
  admin: Admin,
  codec: Codec,
  topic: string,
  connectorId: string,
): Promise<RestoredCheckpoints> {
  const records: { key: string; value: ConnectorCheckpoint | null }[] = [];
  await readTopic(kafka, admin, {
    topic,
    startAt: (r) => r.low,
    onRecords: async (batch) => {
      for (const r of batch) {
        const key = r.key?.toString('utf8') ?? '';
        if (!key.startsWith(`${connectorId}|`)) continue;
        records.push({
          key,
          value: r.value === null ? null : ((await codec.decode(r.value)) as ConnectorCheckpoint),
        });
      }
    },
  });
  return foldCheckpoints(connectorId, records);
}
