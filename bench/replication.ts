import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { loadConfig } from '../config/index.ts';
import { createDynamoDb, createKafka, createMongo } from '../lib/clients.ts';
import { waitFor } from '../lib/retry.ts';
import type { NormalizedEntry } from '../registration/eligibility.ts';
import { DemandTable } from '../stores/demand-table.ts';
import { spawnConnector } from '../test/connector-harness.ts';
import { createReplicationSetup, deadLetters, type ReplicationSetup } from '../test/replication-harness.ts';
import { type EchoProcess, readTopic, spawnFixture } from '../test/runtime-harness.ts';
import { dropDatabaseWhenQuiet } from '../test/support.ts';

// Replication lag: a registration written to DynamoDB (the API's item, through the API's table
// adapter) → visible in the entry store (MongoDB), for N registrations written at a steady rate.
// The connector and the processors (entry-filter, entry-replicator, user-upserter, in one process)
// run as child processes with their production defaults (connector poll 500 ms when idle).
// Visibility is polled: the oldest pending ids, every few ms; a poll's end time is the visible
// time (an upper bound; the poll's own duration is reported). Stage times come from the Kafka
// timestamps of demand.changes (connector), entries.replicate (filter) and data.records
// (replicator, produced after the store write) to name the bottleneck.

export interface ReplicationBenchOptions {
  count: number;
  rate: number;
  pollMs: number;
  connectorPollMs: number;
  /** Partitions each processor handles at once (the topics have 6). */
  concurrency: number;
}

/** Fans whose entry-store visibility is polled directly (every 10th); every fan is timed through data.records. */
const SAMPLE_EVERY = 10;
/** Oldest pending sampled fans looked up per poll round. */
const POLL_WINDOW = 4;

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const stats = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    p50: r(quantile(s, 0.5)),
    p90: r(quantile(s, 0.9)),
    p99: r(quantile(s, 0.99)),
    max: r(s.at(-1) ?? Number.NaN),
  };
};

/** Registration i of a benchmark (eligible, normalized as the API writes it); `name` tells runs apart in emails and names. */
export const benchEntry = (i: number, name = 'bench'): NormalizedEntry =>
  ({
    email: `${name}-${i}@example.test`,
    firstName: name[0]!.toUpperCase() + name.slice(1),
    lastName: `Fan${i}`,
    phone: '+12025550123',
    postalCode: '10001',
    locale: 'en-US',
    markets: [['NYC', 'LA', 'SF'][i % 3]!, 'CHI'],
    marketing: { emailOptIn: i % 2 === 0, smsOptIn: false },
  }) as NormalizedEntry;

export async function benchReplication(opts: ReplicationBenchOptions): Promise<void> {
  const config = loadConfig();
  const kafka = createKafka(config.kafka);
  const admin = kafka.admin();
  const dynamo = createDynamoDb(config.dynamodb);
  const mongo = createMongo(config.mongodb);
  await Promise.all([admin.connect(), mongo.connect()]);
  const s: ReplicationSetup = await createReplicationSetup(admin, dynamo, config.mongodb.url, {
    prefix: `bench-repl-${Date.now().toString(36)}`,
    partitions: 6,
    tiers: [5_000, 30_000],
  });
  const children: EchoProcess[] = [];
  const campaign = 'bench-campaign';
  try {
    const connector = spawnConnector(s.connector, {
      REGFLOW_LOG_LEVEL: 'warn',
      FIXTURE_POLL_MS: String(opts.connectorPollMs),
      FIXTURE_LEASE_MS: '10000',
    });
    const processors = spawnFixture('test/fixtures/replication-process.ts', {
      FIXTURE_PREFIX: s.prefix,
      FIXTURE_TIERS: s.tiers.join(','),
      REGFLOW_MONGODB_URL: s.db.url,
      FIXTURE_CONCURRENCY: String(opts.concurrency),
      REGFLOW_LOG_LEVEL: process.env.BENCH_DEBUG ? 'info' : 'warn',
    });
    children.push(connector, processors);
    await connector.waitForEvent('leading', 60_000);
    const { httpPort } = await processors.waitForEvent('started', 120_000);
    const ready = await waitFor(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).ok, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    if (!ready) throw new Error('the processors never became ready');

    const table = new DemandTable(dynamo, s.table);
    const entries = mongo.db(s.db.name).collection<{ _id: string }>('entries');
    const writtenAt = new Array<number>(opts.count);
    const visibleAt = new Array<number>(opts.count);
    const writeMs: number[] = [];
    const pending: number[] = [];
    let writing = true;

    // Poller: a sample of the fans (every SAMPLE_EVERY-th), the oldest pending first, each looked up
    // by _id equality. FerretDB (SQLite) pushes an _id equality down to its primary key but answers
    // `_id: {$in: [...]}` with a scan of the whole collection (measured: 18 ms vs 1,070 ms for 5 ids
    // in 10,000), so a poller of $in queries would itself saturate the store it measures.
    const pollDurations: number[] = [];
    const poller = (async () => {
      while (writing || pending.length > 0) {
        const window = pending.slice(0, POLL_WINDOW);
        if (window.length > 0) {
          const t0 = performance.now();
          const found = await Promise.all(
            window.map((i) => entries.findOne({ _id: `${campaign}:fan-${i}` }, { projection: { _id: 1 } })),
          );
          const t1 = performance.now();
          pollDurations.push(t1 - t0);
          const seen = new Set(window.filter((_, k) => found[k] !== null));
          for (const i of seen) visibleAt[i] = t1;
          for (let k = pending.length - 1; k >= 0; k--) if (seen.has(pending[k]!)) pending.splice(k, 1);
        }
        await new Promise((r) => setTimeout(r, opts.pollMs));
      }
    })();

    // Writer: registration i starts at start + i / rate (up to 64 in flight if DynamoDB falls behind).
    const start = performance.now();
    const wallStart = Date.now();
    let next = 0;
    const inFlight = new Set<Promise<void>>();
    while (next < opts.count) {
      const due = start + (next * 1000) / opts.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (inFlight.size >= 64) await Promise.race(inFlight);
      const i = next++;
      const p = (async () => {
        const t0 = performance.now();
        await table.putEntry(`fan-${i}`, campaign, benchEntry(i));
        const t1 = performance.now();
        writeMs.push(t1 - t0);
        writtenAt[i] = t1;
        if (i % SAMPLE_EVERY === 0) pending.push(i);
      })();
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await Promise.all(inFlight);
    const writeSeconds = (performance.now() - start) / 1000;
    const drained = await waitFor(async () => pending.length === 0, { timeoutMs: 300_000, intervalMs: 100 });
    writing = false;
    await poller;
    if (!drained) throw new Error(`${pending.length} registrations never reached the entry store`);

    const lags = writtenAt.flatMap((w, i) => (i % SAMPLE_EVERY === 0 ? [visibleAt[i]! - w] : []));
    const lag = stats(lags);

    // Stage breakdown from Kafka timestamps (CreateTime, set at produce).
    const offset = wallStart - start; // performance.now() → epoch ms
    const stageOf = async (topic: string, keyOf: (key: string) => number | null) => {
      const records = await readTopic(topic, { atLeast: opts.count, settleMs: 500, timeoutMs: 120_000 });
      const at = new Map<number, number>();
      for (const r of records) {
        const i = r.key === null ? null : keyOf(r.key);
        if (i !== null && !at.has(i)) at.set(i, r.timestamp - offset);
      }
      return at;
    };
    const fanIndex = (key: string) => {
      const m = /fan-(\d+)/.exec(key);
      return m ? Number(m[1]) : null;
    };
    const connectorAt = await stageOf(s.topics.changes, fanIndex);
    const filterAt = await stageOf(s.topics.replicate, fanIndex);
    const replicatorAt = await stageOf(s.topics.dataRecords, fanIndex);
    const stage = (from: (i: number) => number | undefined, to: Map<number, number>) =>
      stats(
        writtenAt
          .map((_, i) => {
            const a = from(i);
            const b = to.get(i);
            return a === undefined || b === undefined ? Number.NaN : b - a;
          })
          .filter((v) => !Number.isNaN(v)),
      );
    const stages = {
      connector: stage((i) => writtenAt[i], connectorAt),
      filter: stage((i) => connectorAt.get(i), filterAt),
      replicator: stage((i) => filterAt.get(i), replicatorAt),
      // After the entry store write: scoring rows, unflag, then the transaction (outputs produced).
      replicatorAfterVisible: stage((i) => visibleAt[i], replicatorAt),
    };
    // Every fan: DynamoDB write → its REGISTRATION record on data.records, produced by the
    // replicator after the entry store write, in the transaction that commits it (an upper bound).
    const lagAll = stage((i) => writtenAt[i], replicatorAt);
    const dead = await deadLetters(admin, s);
    const rejected = (await admin.fetchTopicOffsets(s.topics.rejected)).reduce(
      (n, p) => n + Number(p.high),
      0,
    );

    const p50s = {
      connector: stages.connector.p50,
      filter: stages.filter.p50,
      replicator: stages.replicator.p50,
    };
    const bottleneck = (Object.entries(p50s) as [string, number][]).sort((a, b) => b[1] - a[1])[0]![0];
    const result = {
      bench: 'replication',
      registrations: opts.count,
      targetRate: opts.rate,
      achievedWriteRate: Math.round(opts.count / writeSeconds),
      putEntryMs: stats(writeMs),
      lagMs: lag,
      lagSampled: lags.length,
      lagToDataRecordsMs: lagAll,
      goalP99Ms: 2_000,
      goalMet: lag.p99 <= 2_000,
      stagesMs: stages,
      bottleneck,
      pollMs: opts.pollMs,
      pollQueryMs: stats(pollDurations),
      connectorPollMs: opts.connectorPollMs,
      concurrency: opts.concurrency,
      rejected,
      deadLetters: dead,
    };
    console.log(
      `registrations          ${opts.count} at ${opts.rate}/s (achieved ${result.achievedWriteRate}/s)`,
    );
    console.log(`PutItem (UpdateItem)   p50 ${result.putEntryMs.p50} ms  p99 ${result.putEntryMs.p99} ms`);
    console.log(
      `lag write→entry store  p50 ${lag.p50} ms  p90 ${lag.p90} ms  p99 ${lag.p99} ms  max ${lag.max} ms  (goal p99 ≤ 2000 ms: ${result.goalMet ? 'met' : 'NOT met'})`,
    );
    console.log(
      `lag write→data.records p50 ${lagAll.p50} ms  p99 ${lagAll.p99} ms (all ${opts.count} fans; store visibility above: ${lags.length} sampled fans)`,
    );
    console.log(
      `  connector  (write → demand.changes)        p50 ${stages.connector.p50}  p99 ${stages.connector.p99} ms`,
    );
    console.log(
      `  filter     (demand.changes → replicate)    p50 ${stages.filter.p50}  p99 ${stages.filter.p99} ms`,
    );
    console.log(
      `  replicator (replicate → data.records)      p50 ${stages.replicator.p50}  p99 ${stages.replicator.p99} ms`,
    );
    console.log(
      `  of which after the entry store write (scoring, unflag, commit) p50 ${stages.replicatorAfterVisible.p50}  p99 ${stages.replicatorAfterVisible.p99} ms`,
    );
    console.log(`bottleneck (largest p50 stage): ${bottleneck}; poll query p50 ${result.pollQueryMs.p50} ms`);
    console.log(`rejected ${rejected}, dead letters ${dead}`);
    if (process.env.BENCH_DEBUG)
      console.error(
        processors.output().slice(-6000),
        await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
      );
    console.log(`BENCH ${JSON.stringify(result)}`);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await admin.deleteTopics({ topics: Object.values(s.topics) }).catch(() => {});
    await dropDatabaseWhenQuiet(mongo.db(s.db.name));
    await dynamo.send(new DeleteTableCommand({ TableName: s.table })).catch(() => {});
    await Promise.all([admin.disconnect(), mongo.close()]);
    dynamo.destroy();
  }
}
