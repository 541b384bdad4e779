import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { Partitioners } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import { createDynamoDb, createKafka, createSchemaRegistry } from '../../lib/clients.ts';
import { isRetriable, ValidationError } from '../../lib/errors.ts';
import { createLogger, kafkaLogCreator } from '../../lib/logger.ts';
import { createRetry } from '../../lib/retry.ts';
import { Codec } from '../../runtime/codec.ts';
import { connectFenced } from '../../runtime/transactions.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { ConnectorCheckpoint } from '../../schemas/types.generated.ts';
import { changeFromSnapshotItem } from './change-record.ts';
import { connectorIdOf, restoreCheckpoints, snapshotKeyOf } from './checkpoints.ts';
import { DEFAULT_CONNECTOR_NAME, DEFAULT_TOPICS } from './connector.ts';
import { isThrottling } from './shard-reader.ts';

// `regflow connector snapshot`: the items a table held before its stream existed, as synthetic
// INSERTs (source SNAPSHOT) on demand.changes. Each Scan page and the Scan's cursor commit in one
// Kafka transaction (transactional id `<connector>-snapshot`), so a snapshot that crashes resumes
// after its last committed page, and running the same snapshot id again emits nothing: every
// item exactly once per snapshot id. Items written while the snapshot runs also reach Kafka
// through the stream; consumers keep the newest state (the entry store never goes backwards), so
// the overlap is harmless in effect.

export interface SnapshotOptions {
  config: Readonly<Config>;
  /** Default: the configured table (REGFLOW_DEMAND_TABLE). */
  table?: string;
  name?: string;
  topics?: { changes: string; checkpoints: string };
  /** A new id snapshots again; the same id continues (or, when complete, does nothing). */
  snapshotId?: string;
  pageSize?: number;
  logger?: Logger;
  /** Tests: after this many committed pages, throw (a crash between pages). */
  failAfterPages?: number;
}

export interface SnapshotReport {
  snapshotId: string;
  /** Items emitted by this snapshot id in all runs. */
  itemsEmitted: number;
  /** Items emitted by this run. */
  emittedNow: number;
  pages: number;
  alreadyComplete: boolean;
}

const SNAPSHOT_ID = /^[A-Za-z0-9._-]{1,100}$/;

export async function runSnapshot(opts: SnapshotOptions): Promise<SnapshotReport> {
  const { config } = opts;
  const table = opts.table ?? config.dynamodb.demandTable;
  const topics = opts.topics ?? DEFAULT_TOPICS;
  const snapshotId = opts.snapshotId ?? 'initial';
  if (!SNAPSHOT_ID.test(snapshotId))
    throw new ValidationError('--snapshot-id', 'letters, digits, . _ - (1-100)');
  const connectorId = connectorIdOf(opts.name ?? DEFAULT_CONNECTOR_NAME, table);
  const log = (opts.logger ?? createLogger(config.logLevel)).child({
    connector: connectorId,
    table,
    snapshotId,
  });
  const kafka = createKafka(config.kafka, { logCreator: kafkaLogCreator(log) });
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  await codec.register(topics.changes, loadSchema('demand-change'));
  await codec.register(topics.checkpoints, loadSchema('connector-checkpoint'));
  const dynamo = createDynamoDb(config.dynamodb);
  const retry = createRetry({
    attempts: 8,
    maxDelayMs: 5_000,
    shouldRetry: (e) => isThrottling(e) || isRetriable(e),
  });
  const admin = kafka.admin();
  const producer = kafka.producer({
    transactionalId: `${connectorId}-snapshot`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await admin.connect();
  try {
    await connectFenced(producer);
    const restored = await restoreCheckpoints(kafka, admin, codec, topics.checkpoints, connectorId);
    const previous = restored.snapshots.get(snapshotId);
    if (previous?.finished) {
      log.info({ itemsEmitted: previous.itemsEmitted }, 'snapshot already complete: nothing to do');
      return {
        snapshotId,
        itemsEmitted: previous.itemsEmitted,
        emittedNow: 0,
        pages: 0,
        alreadyComplete: true,
      };
    }
    let cursor = previous?.scanCursor
      ? (JSON.parse(previous.scanCursor) as Record<string, AttributeValue>)
      : undefined;
    let emitted = previous?.itemsEmitted ?? 0;
    let emittedNow = 0;
    let pages = 0;
    if (previous)
      log.info({ itemsEmitted: emitted }, 'resuming an interrupted snapshot after its last committed page');
    for (;;) {
      const { value: page } = await retry(() =>
        dynamo.send(
          new ScanCommand({
            TableName: table,
            Limit: opts.pageSize ?? 100,
            ConsistentRead: true,
            ...(cursor === undefined ? {} : { ExclusiveStartKey: cursor }),
          }),
        ),
      );
      const now = Date.now();
      const items = page.Items ?? [];
      const next = page.LastEvaluatedKey;
      const changes = items.map((item) => changeFromSnapshotItem(item, table, snapshotId, now));
      const checkpoint: ConnectorCheckpoint = {
        connector: connectorId,
        table,
        kind: 'SNAPSHOT',
        streamArn: null,
        shardId: null,
        sequenceNumber: null,
        finished: next === undefined,
        approximateCreationTime: null,
        snapshotId,
        scanCursor: next === undefined ? null : JSON.stringify(next),
        itemsEmitted: emitted + items.length,
        updatedAt: now,
      };
      const txn = await producer.transaction();
      try {
        await txn.sendBatch({
          topicMessages: [
            ...(changes.length === 0
              ? []
              : [
                  {
                    topic: topics.changes,
                    messages: await Promise.all(
                      changes.map(async (c) => ({
                        key: c.key,
                        value: await codec.encode(topics.changes, c.value),
                      })),
                    ),
                  },
                ]),
            {
              topic: topics.checkpoints,
              messages: [
                {
                  key: snapshotKeyOf(connectorId, snapshotId),
                  value: await codec.encode(topics.checkpoints, checkpoint),
                },
              ],
            },
          ],
          acks: -1,
        });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => {});
        throw err;
      }
      pages++;
      emitted += items.length;
      emittedNow += items.length;
      cursor = next;
      log.debug({ pages, itemsEmitted: emitted }, 'snapshot page committed');
      if (opts.failAfterPages !== undefined && pages >= opts.failAfterPages && cursor !== undefined)
        throw new Error(`snapshot interrupted after ${pages} pages (test fault)`);
      if (cursor === undefined) break;
    }
    log.info({ itemsEmitted: emitted, pages }, 'snapshot complete');
    return { snapshotId, itemsEmitted: emitted, emittedNow, pages, alreadyComplete: false };
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    dynamo.destroy();
  }
}
