import { randomUUID } from 'node:crypto';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { loadConfig } from '../config/index.ts';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { runConnector } from '../connectors/dynamodb-streams/connector.ts';
import { createDynamoDb, createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { createLogger } from '../lib/logger.ts';
import { waitFor } from '../lib/retry.ts';
import { Codec } from '../runtime/codec.ts';
import type { DemandChange } from '../schemas/types.generated.ts';
import { connectorPastClose } from '../selection/trigger.ts';
import { createConnectorSetup } from '../test/connector-harness.ts';

// `npm run bench -- connector [--backlog N] [--items N] [--rate R]`: the DynamoDB Streams
// connector on the local DynamoDB (moto) and Kafka, in this process.
// 1. Catch-up: N items written before the connector starts; records/s until all are committed.
// 2. Lag: items written at a steady rate while it runs; PutItem acknowledged → record visible to
//    a read-committed consumer, p50 / p99 / max.
// 3. Close → past close: once the stream is quiet, a "close" at time T; how long until the
//    connector's checkpoints say it read past T (selection/trigger.ts connectorPastClose, the
//    connector's part of `regflow select`'s "caught up"). `--idle-refresh 300000` is the behaviour
//    before idle shards were refreshed (only the 5-minute refresh of every checkpoint).

const config = loadConfig();

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

export async function benchConnector(opts: {
  backlog: number;
  items: number;
  rate: number;
  idleRefresh: number;
}): Promise<void> {
  const kafka = createKafka(config.kafka, { logLevel: 0 });
  const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
  const dynamo = createDynamoDb(config.dynamodb);
  const admin = kafka.admin();
  await admin.connect();
  const s = await createConnectorSetup(admin, dynamo);
  const put = (n: number) =>
    dynamo.send(
      new PutItemCommand({
        TableName: s.table,
        Item: {
          PK: { S: `fan:${n % 1000}` },
          SK: { S: `asu#bench-${n}` },
          n: { N: String(n) },
          pad: { S: 'x'.repeat(300) },
        },
      }),
    );

  // Catch-up: the backlog, written with 8 writers.
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let n = next++; n < opts.backlog; n = next++) await put(n);
    }),
  );
  const putSeconds = (performance.now() - t0) / 1000;

  const seen = new Map<number, number>();
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: s.changes, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const change = (await codec.decode(message.value)) as DemandChange;
      const n = (JSON.parse(change.newImage ?? '{}') as { n?: number }).n;
      if (n !== undefined && !seen.has(n)) seen.set(n, performance.now());
    },
  });

  const startedAt = performance.now();
  const connector = await runConnector({
    config: { ...config, runtime: { ...config.runtime, httpPort: 0 } },
    table: s.table,
    name: s.name,
    topics: { changes: s.changes, checkpoints: s.checkpoints },
    pollIntervalMs: 100,
    idleRefreshMs: opts.idleRefresh,
    logger: createLogger('warn'),
  });
  await waitFor(async () => seen.size >= opts.backlog, { timeoutMs: 600_000, intervalMs: 20 });
  const caughtUp = performance.now();
  const catchUpSeconds = (caughtUp - startedAt) / 1000;
  const firstAt = Math.min(...seen.values());
  const startupSeconds = (firstAt - startedAt) / 1000;
  // Records/s once the first record arrived: the steady reading rate, start-up (registry, lease,
  // fencing, reading the checkpoints topic) excluded.
  const catchUpPerSecond = opts.backlog / ((caughtUp - firstAt) / 1000);
  console.log(
    `catch-up: ${opts.backlog} items (written at ${(opts.backlog / putSeconds).toFixed(0)}/s) in ${catchUpSeconds.toFixed(2)} s from connector start (first record after ${startupSeconds.toFixed(2)} s) = ${catchUpPerSecond.toFixed(0)} records/s after the first`,
  );

  // Lag at a steady rate.
  const acked = new Map<number, number>();
  const interval = 1000 / opts.rate;
  const begin = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < opts.items; i++) {
    const n = opts.backlog + i;
    const due = begin + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(put(n).then(() => acked.set(n, performance.now())));
  }
  await Promise.all(inFlight);
  const achievedRate = opts.items / ((performance.now() - begin) / 1000);
  await waitFor(async () => seen.size >= opts.backlog + opts.items, { timeoutMs: 120_000, intervalMs: 20 });
  const lags = [...acked].map(([n, at]) => Math.max(0, (seen.get(n) ?? Number.NaN) - at));
  const figures: Record<string, number | null> = {
    backlog: opts.backlog,
    catchUpSeconds: Number(catchUpSeconds.toFixed(2)),
    startupSeconds: Number(startupSeconds.toFixed(2)),
    catchUpRecordsPerSecond: Math.round(catchUpPerSecond),
    backlogPutItemsPerSecond: Math.round(opts.backlog / putSeconds),
    items: opts.items,
    targetRate: opts.rate,
    achievedRate: Math.round(achievedRate),
    lagP50Ms: Math.round(pct(lags, 50)),
    lagP99Ms: Math.round(pct(lags, 99)),
    lagMaxMs: Math.round(Math.max(...lags)),
  };
  console.log(
    `lag: ${opts.items} items at ${figures.achievedRate}/s: PutItem ack → visible read-committed p50 ${figures.lagP50Ms} ms, p99 ${figures.lagP99Ms} ms, max ${figures.lagMaxMs} ms`,
  );

  // Close → past close, on a quiet stream (every item above is in Kafka).
  const closedAt = new Date();
  const connectorId = connectorIdOf(s.name, s.table);
  let pastClose = { ok: false, detail: '' };
  const pastCloseOk = await waitFor(
    async () => {
      pastClose = await connectorPastClose(kafka, admin, codec, s.checkpoints, connectorId, closedAt);
      return pastClose.ok;
    },
    { timeoutMs: opts.idleRefresh + 330_000, intervalMs: 100 },
  );
  const closeToPastCloseMs = Date.now() - closedAt.getTime();
  console.log(
    `close → connector past the close (idle refresh ${opts.idleRefresh} ms): ${pastCloseOk ? `${closeToPastCloseMs} ms` : `not within ${closeToPastCloseMs} ms (${pastClose.detail})`}`,
  );
  Object.assign(figures, {
    idleRefreshMs: opts.idleRefresh,
    closeToPastCloseMs: pastCloseOk ? closeToPastCloseMs : null,
  });

  await connector.stop();
  await consumer.disconnect();
  await admin.deleteTopics({ topics: [s.changes, s.checkpoints] }).catch(() => {});
  await admin.disconnect();
  dynamo.destroy();
  console.log(`BENCH ${JSON.stringify(figures)}`);
}
