import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import {
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  DeleteTableCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { loadConfig } from '../config/index.ts';
import { createDynamoDb, createMongo } from '../lib/clients.ts';
import { SimulatedClock } from '../lib/clock.ts';
import { isRetriable } from '../lib/errors.ts';
import { MemoryPager } from '../lib/pagerduty.ts';
import { reminderRecords } from '../notifications/reminder-records.ts';
import { generateForMarket } from '../processors/notification-generator/handler.ts';
import { DemandTable } from '../stores/demand-table.ts';
import { MongoNotificationCampaigns } from '../stores/notification-campaigns.ts';
import { MongoNotificationStateStore } from '../stores/notification-state.ts';
import {
  BATCH_WRITE_MAX,
  DynamoReminderWriter,
  reminderItem,
  type WriteTotals,
} from '../stores/reminder-writer.ts';
import { MongoScoringStore } from '../stores/scoring.ts';
import { MongoWinnerQueries, type WinnerQueries } from '../stores/winners.ts';
import { closedCampaign, SCENARIO_NOTIFY_AT, scoringRows } from '../test/fixtures/notifications.ts';
import { dropDatabaseWhenQuiet } from '../test/support.ts';

// Notification generation for one market with N eligible winners (default 100,000), against the
// limit: the same DynamoDB endpoint's raw BatchWriteItem rate from a plain SDK loop (25 items a
// request, the same concurrency, the same items), measured in the same run before and after.
// The scoring rows are bulk-inserted into a database of the bench's own (seeding is not timed).

export interface NotificationsBenchOptions {
  fans: number;
  concurrency: number;
}

const name = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

export async function benchNotifications(opts: NotificationsBenchOptions): Promise<void> {
  const config = loadConfig();
  const mongo = createMongo(config.mongodb);
  await mongo.connect();
  const dynamo = createDynamoDb(config.dynamodb);
  const dbName = name('bench_notify').replace(/-/g, '_');
  const db = mongo.db(dbName);
  const tables = { raw: name('bench-raw'), gen: name('bench-gen') };
  const campaignId = 'bench';
  try {
    await Promise.all(Object.values(tables).map((t) => new DemandTable(dynamo, t).ensureTable()));
    await new MongoScoringStore(db).init();
    const rows = scoringRows(campaignId, 'lax', opts.fans).slice(0, opts.fans);
    const seedStart = performance.now();
    for (let i = 0; i < rows.length; i += 5_000)
      await db
        .collection('scoring_rows')
        .insertMany(
          rows
            .slice(i, i + 5_000)
            .map((r) => ({ _id: `${r.campaignId}:${r.marketId}:${r.globalUserId}`, ...r })) as never[],
        );
    await db.collection('campaigns').insertOne({ _id: campaignId, ...closedCampaign(campaignId) } as never);
    console.log(
      `seeded ${rows.length} eligible winners in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
    );

    // The same items the generator writes, for the plain loop.
    const campaign = closedCampaign(campaignId);
    const m = campaign.markets[0]!;
    const items = reminderRecords(
      { id: campaignId, name: campaign.name },
      {
        id: m.id,
        campaignId,
        presaleAt: new Date(m.presale.startsAt),
        timezone: m.presale.timeZone,
        eventLink: m.event.url,
      },
      rows.map((r) => ({
        globalUserId: r.globalUserId,
        verdict: r.verdict ?? null,
        phoneNumber: r.phone ?? null,
        code: r.code ? { marketId: r.marketId, value: r.code } : null,
        locale: r.locale,
      })),
    ).records.map((r) => ({ PutRequest: { Item: reminderItem(r) } }) as WriteRequest);

    let rawRetries = 0;
    const rawLoop = async (): Promise<number> => {
      const start = performance.now();
      const progress = new Progress(items.length, start);
      let next = 0;
      const worker = async () => {
        for (;;) {
          const i = next;
          next += BATCH_WRITE_MAX;
          if (i >= items.length) return;
          let pending = items.slice(i, i + BATCH_WRITE_MAX);
          while (pending.length > 0) {
            let out: BatchWriteItemCommandOutput;
            try {
              out = await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [tables.raw]: pending } }));
            } catch (err) {
              // A stalled endpoint (the SDK's request timeout) is retried, as the generator's writer does.
              if (!isRetriable(err)) throw err;
              rawRetries++;
              continue;
            }
            const left = out.UnprocessedItems?.[tables.raw] ?? [];
            progress.landed(pending.length - left.length);
            pending = left;
          }
        }
      };
      await Promise.all(Array.from({ length: opts.concurrency }, worker));
      console.log(`  per tenth (items/s): ${progress.tenths().join(' ')}`);
      return items.length / ((performance.now() - start) / 1000);
    };

    // The other side of the generator: reading the market's eligible winners alone (the cursor).
    const readStart = performance.now();
    let read = 0;
    for await (const page of new MongoWinnerQueries(db).reminderFans(campaignId, 'lax', 2_000))
      read += page.length;
    const readRate = read / ((performance.now() - readStart) / 1000);
    console.log(`scoring store cursor alone: ${readRate.toFixed(0)} rows/s`);

    const rawBefore = await rawLoop();
    console.log(`raw BatchWriteItem loop (before): ${rawBefore.toFixed(0)} items/s`);

    const state = new MongoNotificationStateStore(db);
    const reads = new TimedReads(new MongoWinnerQueries(db));
    const writer = new TimedWriter(dynamo, tables.gen, { concurrency: opts.concurrency });
    const resources = {
      campaigns: new MongoNotificationCampaigns(db),
      state,
      winners: reads,
      reminders: writer,
      pager: new MemoryPager(),
      clock: new SimulatedClock(SCENARIO_NOTIFY_AT),
    };
    const log = { info: () => {}, warn: (o: object, msg?: string) => console.warn(msg, o) };
    const genStart = performance.now();
    writer.start(rows.length, genStart);
    const outcome = await generateForMarket(
      {
        requestId: 'bench',
        campaignId,
        marketId: 'lax',
        notificationAt: SCENARIO_NOTIFY_AT.getTime(),
        presaleAt: Date.parse(m.presale.startsAt),
        tickId: 'bench',
        requestedAt: SCENARIO_NOTIFY_AT.getTime(),
      },
      resources,
      log,
    );
    const genSeconds = (performance.now() - genStart) / 1000;
    if (outcome.status !== 'NOTIFIED')
      throw new Error(`generation did not succeed: ${JSON.stringify(outcome)}`);
    const genRate = outcome.written / genSeconds;
    console.log(
      `generation: ${outcome.written} reminder records in ${genSeconds.toFixed(1)} s = ${genRate.toFixed(0)} records/s`,
    );
    const stages = {
      pages: reads.pages,
      pageReadSeconds: Number((reads.ms / 1000).toFixed(2)),
      slowestPageSeconds: Number((reads.slowestMs / 1000).toFixed(2)),
      writeRequests: writer.requests,
      meanWriteMs: Number((writer.requestMs / Math.max(1, writer.requests)).toFixed(1)),
      meanInFlight: Number(writer.meanInFlight(performance.now()).toFixed(1)),
    };
    console.log(
      `  stages: ${stages.pages} cursor pages fetched in ${stages.pageReadSeconds} s (slowest ${stages.slowestPageSeconds} s); ` +
        `${stages.writeRequests} BatchWriteItems, mean ${stages.meanWriteMs} ms, mean in flight ${stages.meanInFlight} of ${opts.concurrency}`,
    );
    console.log(`  per tenth (records/s): ${writer.progress!.tenths().join(' ')}`);

    const rawAfter = await rawLoop();
    console.log(`raw BatchWriteItem loop (after): ${rawAfter.toFixed(0)} items/s`);
    const limit = (rawBefore + rawAfter) / 2;
    const ratio = genRate / limit;
    console.log(`generation / raw limit (mean of before and after) = ${ratio.toFixed(2)} (goal >= 0.8)`);
    console.log(
      `BENCH ${JSON.stringify({
        bench: 'notifications',
        eligibleWinners: opts.fans,
        recordsWritten: outcome.written,
        concurrency: opts.concurrency,
        generationSeconds: Number(genSeconds.toFixed(2)),
        generationRecordsPerSec: Math.round(genRate),
        rawBatchWriteItemsPerSecBefore: Math.round(rawBefore),
        rawBatchWriteItemsPerSecAfter: Math.round(rawAfter),
        rawBatchWriteItemsPerSec: Math.round(limit),
        ratio: Number(ratio.toFixed(3)),
        scoringCursorRowsPerSec: Math.round(readRate),
        rawRetries,
        stages,
        loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
        goalRatio: 0.8,
      })}`,
    );
  } finally {
    await Promise.all(
      Object.values(tables).map((t) => dynamo.send(new DeleteTableCommand({ TableName: t })).catch(() => {})),
    );
    await dropDatabaseWhenQuiet(db);
    await mongo.close();
    dynamo.destroy();
  }
}

/** Items landed over time: the rate of each tenth of the total (a rate that falls with size shows here). */
class Progress {
  private done = 0;
  private readonly marks: number[] = [];
  constructor(
    private readonly total: number,
    private readonly start: number,
  ) {}
  landed(n: number): void {
    this.done += n;
    while (this.marks.length < 10 && this.done >= ((this.marks.length + 1) * this.total) / 10)
      this.marks.push(performance.now());
  }
  tenths(): string[] {
    return this.marks.map((t, i) =>
      (this.total / 10 / ((t - (i === 0 ? this.start : this.marks[i - 1]!)) / 1000)).toFixed(0),
    );
  }
}

/** The generator's writer, timed: each BatchWriteItem's latency and how many are in flight. */
class TimedWriter extends DynamoReminderWriter {
  requests = 0;
  requestMs = 0;
  progress: Progress | undefined;
  private inFlight = 0;
  private integral = 0;
  private since = 0;
  private begun = 0;
  start(total: number, at: number): void {
    this.progress = new Progress(total, at);
    this.since = this.begun = at;
  }
  private move(delta: number): void {
    const now = performance.now();
    this.integral += this.inFlight * (now - this.since);
    this.since = now;
    this.inFlight += delta;
  }
  meanInFlight(now: number): number {
    return (this.integral + this.inFlight * (now - this.since)) / Math.max(1, now - this.begun);
  }
  override async writeBatch(requests: WriteRequest[]): Promise<WriteTotals> {
    const t0 = performance.now();
    this.move(1);
    try {
      const totals = await super.writeBatch(requests);
      this.progress?.landed(totals.written);
      return totals;
    } finally {
      this.move(-1);
      this.requests++;
      this.requestMs += performance.now() - t0;
    }
  }
}

/** The winner cursor, timed page by page (the generator reads one page ahead). */
class TimedReads implements Pick<WinnerQueries, 'reminderFans'> {
  pages = 0;
  ms = 0;
  slowestMs = 0;
  constructor(private readonly inner: WinnerQueries) {}
  async *reminderFans(campaignId: string, marketId: string, pageSize: number) {
    const it = this.inner.reminderFans(campaignId, marketId, pageSize)[Symbol.asyncIterator]();
    for (;;) {
      const t0 = performance.now();
      const page = await it.next();
      const ms = performance.now() - t0;
      this.ms += ms;
      this.slowestMs = Math.max(this.slowestMs, ms);
      if (page.done) return;
      this.pages++;
      yield page.value;
    }
  }
}
