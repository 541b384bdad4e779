import { loadSchema } from '../schemas/index.ts';
import type { EntryChange, EntryRejection } from '../schemas/types.generated.ts';
import { REPLICATION_GROUPS, replicationLag } from '../selection/trigger.ts';
import { MongoEntryStore } from '../stores/entries.ts';
import { topology } from '../topology/index.ts';
import { type DemoContext, until } from './context.ts';
import { campaignIds, registrationOf } from './fans.ts';
import { localIso, type Timeline } from './timeline.ts';
import { endOffsets, type Offsets, recordsSince } from './topics.ts';

// Scenario 3 (spec: a race prevents stale replication). A fan registers with markets [A, B] and
// at once changes to [A, C]: two real changes through DynamoDB Streams, the connector and
// entry-filter. Kafka keeps one fan's changes in order, so the disorder of the spec (SQS does not
// order) is made the way it happens here, by redelivery: the two changes are put on
// entries.replicate again, the newer first. The replicator applies the newer one (a no-op by
// then), finds the older one stale against DynamoDB and rejects it: a record on entries.rejected.
// The entry store ends with [A, C].

const S3 = 'Scenario 3';
export const REPLICATE_TOPIC = 'entries.replicate';
export const REJECTED_TOPIC = 'entries.rejected';

/** The records of `topic` with this key, written after `from`, decoded. */
async function recordsFor<T>(ctx: DemoContext, topic: string, key: string, from: Offsets): Promise<T[]> {
  const records = await recordsSince(
    ctx.kafka,
    ctx.admin,
    topic,
    from,
    (r) => r.key?.toString('utf8') === key,
  );
  return Promise.all(
    records.filter((r) => r.value !== null).map(async (r) => (await ctx.codec.decode(r.value)) as T),
  );
}

async function replicatorIdle(ctx: DemoContext): Promise<boolean> {
  const groups = await replicationLag(ctx.admin, topology, REPLICATION_GROUPS);
  return groups.every((g) => g.state !== 'lagging');
}

export async function runScenario3(ctx: DemoContext, t: Timeline): Promise<void> {
  const { report, api, runId } = ctx;
  const campaignId = campaignIds(runId).scenario3;
  const fan = `${runId}-s3-fan`;
  const key = `fan:${fan}|entry#${campaignId}`;
  const entries = new MongoEntryStore(ctx.db);
  const market = (id: string, name: string) => ({
    id,
    name,
    ticketer: 'TM',
    presale: { startsAt: localIso(t.presaleAt), timeZone: t.zone },
    event: { id: `${campaignId}-${id}`, url: `https://tickets.example.com/event/${id}` },
    locales: ['en-US'],
  });

  const before = await report.stage(S3, 'two quick updates (HTTP API)', async (p) => {
    await api.applyCampaign({
      id: campaignId,
      name: 'Scenario 3 – the race',
      status: 'ACTIVE',
      gate: { inviteOnly: false, idvRequired: false },
      fields: { required: ['email'] },
      markets: [market('a', 'Market A'), market('b', 'Market B'), market('c', 'Market C')],
    });
    const replicate = await endOffsets(ctx.admin, REPLICATE_TOPIC);
    const rejected = await endOffsets(ctx.admin, REJECTED_TOPIC);
    const first = await api.register(campaignId, fan, registrationOf(runId, 7, ['a', 'b']));
    const second = await api.register(campaignId, fan, registrationOf(runId, 7, ['a', 'c']));
    report.equal(S3, 'both updates answered 200', [first.status, second.status], [200, 200]);
    p.counts(`${fan}: [a, b] then [a, c]`);
    return { replicate, rejected };
  });

  await report.stage(S3, 'older change redelivered after the newer', async (p) => {
    // The pipeline replicates both in order first; then both come again, newer first.
    const changes = await until(
      'both changes on entries.replicate, replicated',
      async () => {
        const found = await recordsFor<EntryChange>(ctx, REPLICATE_TOPIC, key, before.replicate);
        const stored = await entries.getEntry(campaignId, fan);
        const idle = await replicatorIdle(ctx);
        return {
          done: found.length >= 2 && JSON.stringify(stored?.markets) === '["a","c"]' && idle,
          status: `${found.length}/2 changes · entry store ${JSON.stringify(stored?.markets ?? null)}`,
        };
      },
      { timeoutMs: 120_000, progress: p.update },
    ).then(() => recordsFor<EntryChange>(ctx, REPLICATE_TOPIC, key, before.replicate));
    const [older, newer] = [...changes].sort((x, y) => x.version - y.version);
    const rejectedBefore = await recordsFor<EntryRejection>(ctx, REJECTED_TOPIC, key, before.rejected);
    const naturalRejections = rejectedBefore.filter((r) => r.recordId === older!.recordId).length;

    await ctx.codec.register(REPLICATE_TOPIC, loadSchema('entry-change'));
    const producer = ctx.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const change of [newer!, older!])
        await producer.send({
          topic: REPLICATE_TOPIC,
          acks: -1,
          messages: [{ key, value: await ctx.codec.encode(REPLICATE_TOPIC, change) }],
        });
    } finally {
      await producer.disconnect();
    }

    let rejections: EntryRejection[] = [];
    await until(
      'the stale change to be rejected',
      async () => {
        rejections = await recordsFor<EntryRejection>(ctx, REJECTED_TOPIC, key, before.rejected);
        const ofOlder = rejections.filter((r) => r.recordId === older!.recordId).length;
        return {
          done: ofOlder > naturalRejections && (await replicatorIdle(ctx)),
          status: `${ofOlder} rejection(s) of the older change`,
        };
      },
      { timeoutMs: 120_000, progress: p.update },
    );
    const stored = await entries.getEntry(campaignId, fan);
    report.equal(S3, 'entry store markets', stored?.markets, ['a', 'c']);
    report.equal(S3, 'entry store version (the newer change)', stored?.version, newer!.version);
    const ofOlder = rejections.filter((r) => r.recordId === older!.recordId);
    report.expect(
      S3,
      'the redelivered older change is rejected as stale and counted',
      ofOlder.length === naturalRejections + 1 && ofOlder.every((r) => r.reason === 'STALE'),
      `${ofOlder.length} rejection(s) on entries.rejected (${naturalRejections} when it first came in order), reason ${ofOlder.map((r) => r.reason).join(', ')}`,
    );
    report.equal(
      S3,
      'the newer change is never rejected',
      rejections.filter((r) => r.recordId === newer!.recordId).length,
      0,
    );
    p.counts(
      `v${older!.version} [a, b] rejected STALE (${ofOlder.length}×), v${newer!.version} [a, c] kept; entry store [a, c]`,
    );
  });
  ctx.whereToLook.push(`npx regflow tail entries.rejected --max 5 (Scenario 3's stale change)`);
}
