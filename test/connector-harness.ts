import {
  CreateTableCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { Admin } from 'kafkajs';
import { connectorIdOf, foldCheckpoints } from '../connectors/dynamodb-streams/checkpoints.ts';
import type { ShardCheckpoint } from '../connectors/dynamodb-streams/shards.ts';
import type { ConnectorCheckpoint, DemandChange } from '../schemas/types.generated.ts';
import { createTopic } from '../topology/admin.ts';
import { codec, kafka, readTopic, spawnFixture } from './runtime-harness.ts';
import { uniqueName } from './support.ts';

// Helpers for the connector's integration tests: a table of one's own with a stream, topics and
// a connector name of one's own (so transactional ids, lease keys and checkpoints never
// collide), a writer that records what it wrote, and connector child processes.

export interface ConnectorSetup {
  table: string;
  name: string;
  connectorId: string;
  changes: string;
  checkpoints: string;
}

export async function createDemandTable(dynamo: DynamoDBClient, table: string, stream = true): Promise<void> {
  await dynamo.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [
        { AttributeName: 'PK', AttributeType: 'S' },
        { AttributeName: 'SK', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      ...(stream
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
        : {}),
    }),
  );
}

export async function createConnectorSetup(
  admin: Admin,
  dynamo: DynamoDBClient,
  opts: { stream?: boolean } = {},
): Promise<ConnectorSetup> {
  const base = uniqueName('conn');
  const table = `${base}-demand`;
  const name = base;
  const setup: ConnectorSetup = {
    table,
    name,
    connectorId: connectorIdOf(name, table),
    changes: `${base}.demand.changes`,
    checkpoints: `${base}.connector.checkpoints`,
  };
  await createDemandTable(dynamo, table, opts.stream ?? true);
  await createTopic(admin, { topic: setup.changes, numPartitions: 3 });
  await createTopic(admin, {
    topic: setup.checkpoints,
    numPartitions: 1,
    configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
  });
  return setup;
}

/** What the test wrote, per item key `PK|SK`, in order: the ops and the version `v` written. */
export class DemandWriter {
  readonly written = new Map<string, { op: DemandChange['op']; v: number | null }[]>();
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly dynamo: DynamoDBClient,
    private readonly table: string,
  ) {}

  get total(): number {
    return [...this.written.values()].reduce((n, list) => n + list.length, 0);
  }

  private note(pk: string, sk: string, op: DemandChange['op'], v: number | null) {
    const key = `${pk}|${sk}`;
    this.written.set(key, [...(this.written.get(key) ?? []), { op, v }]);
  }

  async put(pk: string, sk: string, extra: Record<string, string> = {}): Promise<void> {
    const key = `${pk}|${sk}`;
    const v = (this.versions.get(key) ?? 0) + 1;
    this.versions.set(key, v);
    const exists = (this.written.get(key)?.at(-1)?.op ?? 'REMOVE') !== 'REMOVE';
    await this.dynamo.send(
      new PutItemCommand({
        TableName: this.table,
        Item: {
          PK: { S: pk },
          SK: { S: sk },
          v: { N: String(v) },
          needsReplication: { BOOL: true },
          ...Object.fromEntries(Object.entries(extra).map(([k, s]) => [k, { S: s }])),
        },
      }),
    );
    this.note(pk, sk, exists ? 'MODIFY' : 'INSERT', v);
  }

  async update(pk: string, sk: string): Promise<void> {
    const key = `${pk}|${sk}`;
    const v = (this.versions.get(key) ?? 0) + 1;
    this.versions.set(key, v);
    await this.dynamo.send(
      new UpdateItemCommand({
        TableName: this.table,
        Key: { PK: { S: pk }, SK: { S: sk } },
        UpdateExpression: 'SET v = :v',
        ExpressionAttributeValues: { ':v': { N: String(v) } },
      }),
    );
    this.note(pk, sk, 'MODIFY', v);
  }

  async remove(pk: string, sk: string): Promise<void> {
    await this.dynamo.send(
      new DeleteItemCommand({ TableName: this.table, Key: { PK: { S: pk }, SK: { S: sk } } }),
    );
    // Deleting an item that is not there changes nothing, and DynamoDB streams nothing for it.
    const exists = (this.written.get(`${pk}|${sk}`)?.at(-1)?.op ?? 'REMOVE') !== 'REMOVE';
    if (exists) this.note(pk, sk, 'REMOVE', null);
  }
}

export interface ReadChange {
  partition: number;
  offset: number;
  key: string | null;
  value: DemandChange;
}

/** The change records on `topic`, read committed, in partition/offset order. */
export async function readChanges(
  topic: string,
  atLeast: number,
  opts: { timeoutMs?: number; settleMs?: number } = {},
): Promise<ReadChange[]> {
  const records = await readTopic(topic, { atLeast, ...opts });
  return records
    .map((r) => ({
      partition: r.partition,
      offset: Number(r.offset),
      key: r.key,
      value: r.value as unknown as DemandChange,
    }))
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Per item key, the (op, v) sequence as it arrived on the topic. */
export function changesByKey(
  changes: ReadChange[],
): Map<string, { op: DemandChange['op']; v: number | null }[]> {
  const out = new Map<string, { op: DemandChange['op']; v: number | null }[]>();
  for (const c of changes) {
    const image = c.value.newImage ?? c.value.oldImage;
    const v =
      c.value.op === 'REMOVE'
        ? null
        : ((JSON.parse(c.value.newImage ?? 'null') as { v?: number })?.v ?? null);
    void image;
    out.set(c.key ?? '?', [...(out.get(c.key ?? '?') ?? []), { op: c.value.op, v }]);
  }
  return out;
}

export const checkpointValues = async (topic: string, atLeast: number) =>
  (await readTopic(topic, { atLeast, settleMs: 500 })).map((r) => ({
    key: r.key,
    value: r.value as unknown as ConnectorCheckpoint | null,
  }));

export interface CheckpointWatch {
  /** Every checkpoint record read so far (read committed), in log order. */
  records(): { offset: number; key: string; value: ConnectorCheckpoint | null }[];
  /** The latest checkpoint per shard of `connectorId`. */
  shards(connectorId: string): Map<string, ShardCheckpoint>;
  stop(): Promise<void>;
}

/** Follows the (one-partition) checkpoints topic from its start while a test waits on what it holds. */
export async function watchCheckpoints(topic: string): Promise<CheckpointWatch> {
  const consumer = kafka.consumer({ groupId: uniqueName('checkpoint-watch'), readUncommitted: false });
  const seen: { offset: number; key: string; value: ConnectorCheckpoint | null }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const offset = Number(message.offset);
      if (seen.some((r) => r.offset === offset)) return;
      seen.push({
        offset,
        key: message.key?.toString() ?? '',
        value: message.value === null ? null : ((await codec.decode(message.value)) as ConnectorCheckpoint),
      });
    },
  });
  return {
    records: () => [...seen].sort((a, b) => a.offset - b.offset),
    shards: (connectorId) =>
      foldCheckpoints(
        connectorId,
        [...seen].sort((a, b) => a.offset - b.offset),
      ).shards,
    stop: () => consumer.disconnect(),
  };
}

export function spawnConnector(s: ConnectorSetup, env: Record<string, string> = {}) {
  return spawnFixture('test/fixtures/connector-process.ts', {
    FIXTURE_TABLE: s.table,
    FIXTURE_NAME: s.name,
    FIXTURE_CHANGES: s.changes,
    FIXTURE_CHECKPOINTS: s.checkpoints,
    ...env,
  });
}
