import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import type { Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.ts';
import { status } from '../../infra/stack.ts';
import { waitFor } from '../../lib/retry.ts';
import { AnalyticsHeader, DATA_TYPES, dedupIdOf } from '../../processors/analytics-router/records.ts';
import { Header } from '../../runtime/headers.ts';
import { loadSchema } from '../../schemas/index.ts';
import {
  type AnalyticsTestTopics,
  createAnalyticsTopics,
  type OutRecord,
  produceEnvelopes,
  readOutputs,
  spawnRouter,
  topicSize,
} from '../analytics-harness.ts';
import { envelope, INVALID_ENVELOPES, mixedEnvelopes, SAMPLE_DATA } from '../fixtures/analytics-samples.ts';
import { codec, type EchoProcess, kafka } from '../runtime-harness.ts';
import { config } from '../support.ts';

// The analytics fan-out on the real broker and registry: analytics-router as a child process on
// topics of the test's own (a unique prefix), fed through `regflow publish-data` or an idempotent
// producer, read back read-committed and decoded through the registry.

let admin: Admin;
const running: EchoProcess[] = [];
const start = (t: AnalyticsTestTopics, env: Record<string, string> = {}) => {
  const p = spawnRouter(t, env);
  running.push(p);
  return p;
};
const tmp = mkdtempSync(join(tmpdir(), 'regflow-analytics-'));

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await admin.disconnect();
  rmSync(tmp, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
/** The regflow CLI, as an operator runs it. */
const regflow = (...args: string[]) => run([join(REPO_ROOT, 'bin/regflow.js'), ...args]);

const dedupIds = (records: OutRecord[]) => records.map((r) => r.headers[AnalyticsHeader.DEDUP_ID] ?? '?');
const byTopic = (records: OutRecord[], topic: string) => records.filter((r) => r.topic === topic);

describe('analytics fan-out', () => {
  it('publishes each of the five types from `regflow publish-data` to its topic, decodable to the expected fields; `regflow tail registration` shows them', async () => {
    const t = await createAnalyticsTopics(admin);
    const file = join(tmp, 'records.jsonl');
    const lines = DATA_TYPES.map((type) =>
      JSON.stringify({
        type,
        data: SAMPLE_DATA[type],
        occurredAt: '2027-01-12T10:00:00Z',
        source: 'publish-data-test',
        sourceRecordId: `${type}-1`,
      }),
    );
    writeFileSync(file, `${lines.join('\n')}\n`);
    const published = await regflow('publish-data', '-f', file, '--topic', t.input);
    expect(published.stderr).toBe('');
    expect(published.stdout).toContain(`published 5 record(s) to ${t.input}`);

    start(t);
    const out = await readOutputs(t.outputs, { atLeast: 5 });
    expect(out).toHaveLength(5);
    expect(byTopic(out, t.rejected)).toEqual([]);
    const one = (type: (typeof DATA_TYPES)[number]) => {
      const records = byTopic(out, t.byType[type]);
      expect(records, type).toHaveLength(1);
      const id = dedupIdOf(type, 'publish-data-test', `${type}-1`);
      expect(records[0]!.headers[AnalyticsHeader.DEDUP_ID]).toBe(id);
      expect(records[0]!.value).toMatchObject({
        recordId: id,
        occurredAt: Date.UTC(2027, 0, 12, 10),
        source: 'publish-data-test',
        sourceRecordId: `${type}-1`,
      });
      return records[0]!;
    };
    const campaign = one('CAMPAIGN');
    expect(campaign.key).toBe('c1');
    expect(campaign.value).toMatchObject({
      id: 'c1',
      name: 'World Tour 2027',
      status: 'ACTIVE',
      gateType: 'LINKED_CAMPAIGN',
      linkedCampaignId: 'c0',
      openAt: Date.UTC(2027, 0, 10, 17),
    });
    const market = one('MARKET');
    expect(market.key).toBe('c1:m1');
    expect(market.value).toMatchObject({
      id: 'm1',
      campaignId: 'c1',
      ticketer: 'TM',
      presaleAt: Date.UTC(2027, 1, 1, 18),
      timezone: 'America/Los_Angeles',
      locales: ['en-US'],
      automatedReminders: true,
    });
    expect(one('EVENT_MAPPING').value).toMatchObject({
      campaignId: 'c1',
      marketId: 'm1',
      eventId: 'ev-9',
      eventLink: 'https://tickets.example/ev-9',
      deleted: false,
    });
    const registration = one('REGISTRATION');
    expect(registration.key).toBe('c1:gu-42');
    expect(registration.value).toMatchObject({
      campaignId: 'c1',
      globalUserId: 'gu-42',
      markets: ['m1', 'm2'],
      linkedFrom: 'c0',
      createdAt: Date.UTC(2027, 0, 11, 10),
    });
    expect(registration.raw!.toString('latin1')).not.toContain('fan@example.com');
    expect(one('REGISTERED_MARKET').value).toMatchObject({
      campaignId: 'c1',
      marketId: 'm1',
      globalUserId: 'gu-42',
      preference: 1,
      verdict: true,
    });

    const tail = await regflow('tail', t.byType.REGISTRATION, '--from-beginning');
    expect(tail.code, tail.stderr).toBe(0);
    const printed = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; headers: Record<string, string>; value: unknown });
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatchObject({
      key: 'c1:gu-42',
      headers: { [AnalyticsHeader.DEDUP_ID]: registration.headers[AnalyticsHeader.DEDUP_ID] },
      value: { globalUserId: 'gu-42', markets: ['m1', 'm2'] },
    });
  });

  it('rejects an unknown type, an empty payload and a schema violation at once, with reason and field, never retried and never on an output topic', async () => {
    const t = await createAnalyticsTopics(admin, 3, [300]);
    const valid = mixedEnvelopes(20, { source: 'reject-test' });
    const invalid = [
      INVALID_ENVELOPES.UNKNOWN_TYPE(1),
      INVALID_ENVELOPES.EMPTY_PAYLOAD(2),
      INVALID_ENVELOPES.SCHEMA_VIOLATION(3),
    ];
    await produceEnvelopes(t.input, [...valid.slice(0, 10), ...invalid, ...valid.slice(10)]);
    const router = start(t);
    const { httpPort } = (await router.waitForEvent('started')) as { httpPort: number };

    const out = await readOutputs(t.outputs, { atLeast: 23 });
    expect(out).toHaveLength(23);
    const rejected = byTopic(out, t.rejected);
    expect(rejected.map((r) => r.value!.sourceRecordId).sort()).toEqual(['bad-1', 'bad-2', 'bad-3']);
    const why = (id: string) => rejected.find((r) => r.value!.sourceRecordId === id)!;
    expect(why('bad-1').headers).toMatchObject({
      [AnalyticsHeader.REJECT_REASON]: 'UNKNOWN_TYPE',
      [AnalyticsHeader.REJECT_FIELD]: 'type',
    });
    expect(why('bad-2').headers).toMatchObject({
      [AnalyticsHeader.REJECT_REASON]: 'EMPTY_PAYLOAD',
      [AnalyticsHeader.REJECT_FIELD]: 'data',
    });
    expect(why('bad-3').headers).toMatchObject({
      [AnalyticsHeader.REJECT_REASON]: 'SCHEMA_VIOLATION',
      [AnalyticsHeader.REJECT_FIELD]: 'timezone',
      [AnalyticsHeader.REJECT_MESSAGE]: 'MARKET: timezone expected string, got number',
      [Header.ORIGINAL_TOPIC]: t.input,
      [Header.ORIGINAL_CONSUMER_GROUP]: t.group,
    });
    // The rejected record is the envelope as it came, decodable with the envelope schema.
    expect(why('bad-3').value).toEqual(invalid[2]);
    // Not retried: no attempts header, nothing in the retry tier or the DLT, no retry counted.
    for (const r of rejected) expect(r.headers[Header.ATTEMPTS]).toBeUndefined();
    expect(await topicSize(admin, t.retries[0]!)).toBe(0);
    expect(await topicSize(admin, t.dlt)).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).not.toMatch(/regflow_retries_total\{[^}]*\} [1-9]/);
    expect(metrics).not.toMatch(/regflow_record_errors_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(new RegExp(`regflow_records_out_total\\{topic="${t.rejected}"[^}]*\\} 3`));
    // No output topic carries an invalid record; every valid one arrived once.
    const published = out.filter((r) => r.topic !== t.rejected);
    expect(published.map((r) => r.value!.sourceRecordId).sort()).toEqual(
      valid.map((e) => e.sourceRecordId).sort(),
    );
    for (const r of published) {
      const type = String(r.value!.sourceRecordId).split('-')[0] as (typeof DATA_TYPES)[number];
      expect(r.topic).toBe(t.byType[type]);
    }
  });

  it('gives the same source record delivered twice the same dedup id, and a different one another', async () => {
    const t = await createAnalyticsTopics(admin);
    const change = envelope('REGISTRATION', SAMPLE_DATA.REGISTRATION, {
      source: 'dup-test',
      sourceRecordId: 'seq-7',
    });
    const other = envelope('REGISTRATION', SAMPLE_DATA.REGISTRATION, {
      source: 'dup-test',
      sourceRecordId: 'seq-8',
    });
    await produceEnvelopes(t.input, [change, change, other]);
    start(t);
    const out = await readOutputs([t.byType.REGISTRATION], { atLeast: 3 });
    expect(out).toHaveLength(3);
    const expected = dedupIdOf('REGISTRATION', 'dup-test', 'seq-7');
    const ids = dedupIds(out);
    expect(ids.filter((id) => id === expected)).toHaveLength(2);
    expect(ids.filter((id) => id === dedupIdOf('REGISTRATION', 'dup-test', 'seq-8'))).toHaveLength(1);
    for (const r of out) expect(r.value!.recordId).toBe(r.headers[AnalyticsHeader.DEDUP_ID]);
  });

  it('reproduces identical dedup ids, keys and rejections when data.records is replayed (`regflow replay --to-earliest`)', async () => {
    const t = await createAnalyticsTopics(admin);
    const envelopes = mixedEnvelopes(60, { invalidEvery: 20, source: 'replay-test' });
    await produceEnvelopes(t.input, envelopes);
    const first = start(t);
    const once = await readOutputs(t.outputs, { atLeast: 60 });
    expect(once).toHaveLength(60);
    await first.stop();
    running.splice(running.indexOf(first), 1);

    const replay = await regflow('replay', t.group, '--topic', t.input, '--to-earliest', '--execute');
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`reset 3 partitions of consumer group "${t.group}"`);
    start(t);
    const twice = await readOutputs(t.outputs, { atLeast: 120 });
    expect(twice).toHaveLength(120);

    const fingerprint = (r: OutRecord) =>
      [
        r.topic,
        r.key,
        r.headers[AnalyticsHeader.DEDUP_ID] ?? r.headers[AnalyticsHeader.REJECT_REASON],
        r.raw!.subarray(5).toString('hex'),
      ].join(' ');
    const before = once.map(fingerprint).sort();
    const after = twice.map(fingerprint).sort();
    expect(after).toEqual([...before, ...before].sort());
    expect(byTopic(once, t.rejected)).toHaveLength(3);
  });

  it('evolves a type schema under BACKWARD compatibility: an added optional field is accepted and old records still decode', async () => {
    const t = await createAnalyticsTopics(admin);
    await produceEnvelopes(t.input, [envelope('MARKET', SAMPLE_DATA.MARKET, { sourceRecordId: 'old-1' })]);
    const router = start(t);
    const [old] = await readOutputs([t.byType.MARKET], { atLeast: 1, settleMs: 200 });
    await router.stop();

    const v1 = loadSchema('analytics-market') as { fields: object[] };
    const v2 = {
      ...v1,
      fields: [
        ...v1.fields,
        { name: 'venueName', type: ['null', 'string'], default: null, doc: 'added in v2' },
      ],
    };
    const v2Id = await codec.register(t.byType.MARKET, v2);
    const oldId = old!.raw!.readInt32BE(1);
    expect(v2Id).not.toBe(oldId);

    // A consumer on v2 reads the v1 record through schema resolution: old fields, the new default.
    const res = await fetch(`${config.schemaRegistry.url}/schemas/ids/${oldId}`);
    const writer = avro.Type.forSchema(JSON.parse(((await res.json()) as { schema: string }).schema));
    const reader = avro.Type.forSchema(v2 as avro.Schema);
    const decoded = reader.fromBuffer(old!.raw!.subarray(5), reader.createResolver(writer)) as Record<
      string,
      unknown
    >;
    expect(decoded).toMatchObject({
      id: 'm1',
      campaignId: 'c1',
      presaleAt: Date.UTC(2027, 1, 1, 18),
      venueName: null,
    });
    // And through the registry by its own id, as any consumer decodes it.
    expect(await codec.decode(old!.raw!)).toMatchObject({ id: 'm1', sourceRecordId: 'old-1' });

    // A change that would break old records (a new required field without default) is refused.
    const v3 = { ...v1, fields: [...v1.fields, { name: 'capacity', type: 'int' }] };
    await expect(codec.register(t.byType.MARKET, v3)).rejects.toThrow(/refused by the registry/);
  });

  it.skipIf(!config.testBrokerRestart)(
    'publishes everything exactly once when the local broker is stopped and restarted mid-run (REGFLOW_TEST_BROKER_RESTART=1)',
    { timeout: 420_000 },
    async () => {
      const [kafkaState] = await status(config, { services: ['kafka'] });
      if (kafkaState?.state !== 'running') {
        throw new Error(
          `REGFLOW_TEST_BROKER_RESTART=1 needs a Kafka this checkout started (state: ${kafkaState?.state}); it never stops an external broker`,
        );
      }
      const infra = (...args: string[]) => run(['--import', 'tsx', join(REPO_ROOT, 'infra/cli.ts'), ...args]);
      const t = await createAnalyticsTopics(admin);
      const envelopes = mixedEnvelopes(25_000, { invalidEvery: 100, source: 'restart-test' });
      await produceEnvelopes(t.input, envelopes.slice(0, 20_000));
      const router = start(t);
      await router.waitForEvent('started');
      expect(
        await waitFor(async () => (await topicSize(admin, t.byType.CAMPAIGN)) > 0, { timeoutMs: 30_000 }),
      ).toBe(true);
      // The fault must land mid-run, or the test proves nothing.
      const [committed] = await admin.fetchOffsets({ groupId: t.group, topics: [t.input] });
      const done = (committed?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      expect(done).toBeLessThan(20_000);

      const down = await infra('down', 'kafka');
      expect(down.code, down.stderr).toBe(0);
      await new Promise((r) => setTimeout(r, 5_000));
      const up = await infra('up', 'kafka');
      expect(up.code, up.stderr).toBe(0);
      await produceEnvelopes(t.input, envelopes.slice(20_000));

      const out = await readOutputs(t.outputs, { atLeast: 25_000, timeoutMs: 240_000, settleMs: 5_000 });
      const published = out.filter((r) => r.topic !== t.rejected);
      expect(published).toHaveLength(24_750);
      expect(new Set(dedupIds(published)).size).toBe(24_750);
      expect(new Set(published.map((r) => r.value!.sourceRecordId)).size).toBe(24_750);
      expect(byTopic(out, t.rejected)).toHaveLength(250);
    },
  );
});
