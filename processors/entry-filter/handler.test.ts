import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import { PendingOutcomes } from '../../runtime/metrics.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { DemandChange, EntryChange } from '../../schemas/types.generated.ts';
import { entryFilterHandler } from './handler.ts';

const ctx = { processor: 'entry-filter', log: { info() {}, warn() {} }, resources: {} };

const item = (over: Record<string, unknown> = {}) => ({
  PK: 'fan:u1',
  SK: 'entry#c1',
  type: 'entry',
  campaignId: 'c1',
  globalUserId: 'u1',
  email: 'fan@example.test',
  locale: 'en-US',
  markets: ['A', 'B'],
  marketing: { emailOptIn: true, smsOptIn: false },
  phone: '+12025550123',
  needsReplication: true,
  createdAt: '2024-01-01T10:00:00.000Z',
  date: { updated: '2024-01-01T10:00:00.000Z', fanModified: '2024-01-01T10:00:00.000Z' },
  version: 1_704_103_200_000_001,
  ...over,
});

function change(
  op: DemandChange['op'],
  oldImage: object | null,
  newImage: object | null,
  sk = 'entry#c1',
): InputRecord<DemandChange> {
  return {
    topic: 'demand.changes',
    partition: 0,
    offset: '7',
    key: `fan:u1|${sk}`,
    headers: {},
    timestamp: '0',
    attempt: 1,
    value: {
      eventId: 'ev-1',
      op,
      table: 'demand-table',
      keys: { PK: '"fan:u1"', SK: JSON.stringify(sk) },
      oldImage: oldImage && JSON.stringify(oldImage),
      newImage: newImage && JSON.stringify(newImage),
      sequenceNumber: '4200',
      shardId: 'shard-1',
      approximateCreationTime: 1_704_103_200_000,
      source: 'STREAM',
    },
  };
}

const run = async (r: InputRecord<DemandChange>) =>
  (await entryFilterHandler('entries.replicate')(r, ctx)) as {
    topic: string;
    key: string;
    value: EntryChange;
  }[];

describe('entry-filter', () => {
  it('turns a fan INSERT into a typed UPSERT keyed like its item, recordId = sequence number', async () => {
    const [out, ...rest] = await run(change('INSERT', null, item()));
    expect(rest).toEqual([]);
    expect(out).toMatchObject({ topic: 'entries.replicate', key: 'fan:u1|entry#c1' });
    expect(out!.value).toEqual({
      recordId: '4200',
      eventId: 'ev-1',
      kind: 'UPSERT',
      sourceOp: 'INSERT',
      table: 'demand-table',
      campaignId: 'c1',
      globalUserId: 'u1',
      version: 1_704_103_200_000_001,
      updated: '2024-01-01T10:00:00.000Z',
      fanModified: '2024-01-01T10:00:00.000Z',
      entry: {
        email: 'fan@example.test',
        firstName: null,
        lastName: null,
        phone: '+12025550123',
        postalCode: null,
        locale: 'en-US',
        markets: ['A', 'B'],
        marketing: { emailOptIn: true, smsOptIn: false },
        doTransfer: null,
        linkedFrom: null,
        createdAt: '2024-01-01T10:00:00.000Z',
      },
      previousMarkets: [],
      sequenceNumber: '4200',
      approximateCreationTime: 1_704_103_200_000,
    });
  });

  it('keeps a fan MODIFY (fanModified changed) with the markets it had before', async () => {
    const before = item();
    const after = item({
      markets: ['A', 'C'],
      version: before.version + 5,
      date: { updated: '2024-01-01T10:00:05.000Z', fanModified: '2024-01-01T10:00:05.000Z' },
    });
    const [out] = await run(change('MODIFY', before, after));
    expect(out!.value).toMatchObject({ kind: 'UPSERT', sourceOp: 'MODIFY', previousMarkets: ['A', 'B'] });
    expect(out!.value.entry?.markets).toEqual(['A', 'C']);
  });

  it('keeps two fan writes in one millisecond (same fanModified, new version, still flagged)', async () => {
    const before = item();
    const [out] = await run(change('MODIFY', before, item({ version: before.version + 1, markets: ['C'] })));
    expect(out!.value.version).toBe(before.version + 1);
  });

  it('skips system writes: the unflag, a verdict write, a MODIFY that leaves version and fanModified alone', async () => {
    const flagged = item();
    expect(await run(change('MODIFY', flagged, { ...flagged, needsReplication: false }))).toEqual([]);
    const unflagged = item({ needsReplication: false });
    expect(await run(change('MODIFY', unflagged, { ...unflagged, verdict: true }))).toEqual([]);
    expect(await run(change('MODIFY', flagged, { ...flagged, verdict: true }))).toEqual([]);
  });

  it('keeps a system write that asks for replication (needsReplication turned true)', async () => {
    const unflagged = item({ needsReplication: false });
    const [out] = await run(change('MODIFY', unflagged, { ...unflagged, needsReplication: true }));
    expect(out!.value.kind).toBe('UPSERT');
  });

  it('turns a REMOVE into a DELETE with the withdrawn version and markets', async () => {
    const [out] = await run(change('REMOVE', item(), null));
    expect(out!.value).toMatchObject({
      kind: 'DELETE',
      sourceOp: 'REMOVE',
      entry: null,
      version: 1_704_103_200_000_001,
      previousMarkets: ['A', 'B'],
    });
  });

  it('skips items that are not entries, and an INSERT neither fan-modified nor flagged', async () => {
    const reminder = { PK: 'fan:u1', SK: 'asu#c1-A#reminder', type: 'reminder', needsReplication: true };
    expect(await run(change('INSERT', null, reminder, 'asu#c1-A#reminder'))).toEqual([]);
    const system = item({ needsReplication: false, date: { updated: '2024-01-01T10:00:00.000Z' } });
    expect(await run(change('INSERT', null, system))).toEqual([]);
  });

  it('counts what it keeps and what it skips', async () => {
    const counts = new PendingOutcomes();
    const handle = entryFilterHandler('entries.replicate');
    const counted = { ...ctx, metrics: counts };
    await handle(change('INSERT', null, item()), counted);
    await handle(change('INSERT', null, item(), 'asu#c1-A#reminder'), counted); // not an entry
    await handle(change('MODIFY', item(), item({ needsReplication: false })), counted); // the unflag
    expect(Object.fromEntries(counts.take())).toEqual({ kept: 1, skipped: 2 });
  });

  it('uses the eventId as recordId for a snapshot INSERT', async () => {
    const r = change('INSERT', null, item());
    r.value = {
      ...r.value,
      sequenceNumber: null,
      shardId: null,
      eventId: 'snapshot:s1:fan:u1|entry#c1',
      source: 'SNAPSHOT',
    };
    const [out] = await run(r);
    expect(out!.value.recordId).toBe('snapshot:s1:fan:u1|entry#c1');
  });

  it('refuses an entry without what replication needs, naming the field', async () => {
    const { version: _v, ...noVersion } = item();
    await expect(run(change('INSERT', null, noVersion))).rejects.toThrow(ValidationError);
    await expect(run(change('INSERT', null, noVersion))).rejects.toThrow(/newImage\.version/);
    await expect(run(change('INSERT', null, item({ markets: 'A' })))).rejects.toThrow(/newImage\.markets/);
    const bad = change('INSERT', null, null);
    bad.value = { ...bad.value, newImage: '{not json' };
    await expect(run(bad)).rejects.toThrow(/newImage: is not valid JSON/);
  });
});
