import { describe, expect, it } from 'vitest';
import { RetriableError } from '../../lib/errors.ts';
import { PendingOutcomes } from '../../runtime/metrics.ts';
import type { BatchItemOutcome, InputRecord, OutputRecord } from '../../runtime/types.ts';
import type { DataRecord, EntryChange, EntryRejection, UserProfile } from '../../schemas/types.generated.ts';
import { MemoryEntryStore, MemoryScoringStore } from '../../stores/memory.ts';
import type { CurrentItem, DemandItems, EntryRef, UnflagResult } from './demand-items.ts';
import { refKey } from './demand-items.ts';
import { entryReplicatorHandler } from './handler.ts';

/** The demand-table in memory: current items, a failing read, the conditional unflag. */
class MemoryDemand implements DemandItems {
  readonly items = new Map<string, CurrentItem>();
  failReads = 0;
  reads = 0;
  unflags: string[] = [];

  set(gid: string, cid: string, version: number, updated: string, needsReplication = true) {
    this.items.set(refKey({ table: 't', globalUserId: gid, campaignId: cid }), {
      version,
      updated,
      needsReplication,
    });
  }
  get(gid: string, cid: string) {
    return this.items.get(refKey({ table: 't', globalUserId: gid, campaignId: cid }));
  }
  async current(refs: readonly EntryRef[]) {
    this.reads++;
    if (this.failReads-- > 0) throw new RetriableError('ProvisionedThroughputExceeded');
    return new Map(refs.map((r) => [refKey(r), this.items.get(refKey(r)) ?? null] as const));
  }
  async unflag(ref: EntryRef, version: number, updated: string | null): Promise<UnflagResult> {
    const cur = this.items.get(refKey(ref));
    if (!cur || cur.version !== version || cur.updated !== updated || !cur.needsReplication) return 'changed';
    cur.needsReplication = false;
    this.unflags.push(`${ref.globalUserId}@${version}`);
    return 'unflagged';
  }
}

class FailingEntryStore extends MemoryEntryStore {
  failCampaign: string | null = null;
  override async upsertEntries(
    campaignId: string,
    entries: Parameters<MemoryEntryStore['upsertEntries']>[1],
  ) {
    if (campaignId === this.failCampaign) throw new Error('connection reset');
    return super.upsertEntries(campaignId, entries);
  }
}

const at = (s: number) => new Date(Date.UTC(2024, 0, 1, 10, 0, s)).toISOString();

let seq = 100;
function upsert(
  gid: string,
  markets: string[],
  version: number,
  updated: string,
  cid = 'c1',
  previousMarkets: string[] = [],
): InputRecord<EntryChange> {
  const id = String(seq++);
  return {
    topic: 'entries.replicate',
    partition: 0,
    offset: id,
    key: `fan:${gid}|entry#${cid}`,
    headers: {},
    timestamp: '0',
    attempt: 1,
    value: {
      recordId: id,
      eventId: `ev-${id}`,
      kind: 'UPSERT',
      sourceOp: 'MODIFY',
      table: 't',
      campaignId: cid,
      globalUserId: gid,
      version,
      updated,
      fanModified: updated,
      entry: {
        email: `${gid}@example.test`,
        firstName: 'Ada',
        lastName: null,
        phone: '+12025550123',
        postalCode: null,
        locale: 'en-US',
        markets,
        marketing: { emailOptIn: true, smsOptIn: false },
        doTransfer: null,
        linkedFrom: null,
        createdAt: at(0),
      },
      previousMarkets,
      sequenceNumber: id,
      approximateCreationTime: Date.parse(updated),
    },
  };
}
function remove(
  gid: string,
  markets: string[],
  version: number,
  updated: string,
  cid = 'c1',
): InputRecord<EntryChange> {
  const r = upsert(gid, [], version, updated, cid, markets);
  r.value = { ...r.value, kind: 'DELETE', sourceOp: 'REMOVE', entry: null };
  return r;
}

const TOPICS = { users: 'users.upserts', dataRecords: 'data.records', rejected: 'entries.rejected' };

function setup() {
  const demand = new MemoryDemand();
  const entries = new FailingEntryStore();
  const scoring = new MemoryScoringStore();
  const warnings: object[] = [];
  const counts = new PendingOutcomes();
  const ctx = {
    processor: 'entry-replicator',
    log: { info() {}, warn: (o: object) => warnings.push(o) },
    resources: { demand, entries, scoring },
    metrics: counts,
  };
  const handle = (records: InputRecord<EntryChange>[]) =>
    entryReplicatorHandler(TOPICS, () => 42, 200)(records, ctx);
  return { demand, entries, scoring, warnings, handle, counted: () => Object.fromEntries(counts.take()) };
}

const outputsOf = (o: BatchItemOutcome) => ('outputs' in o ? o.outputs : []) as OutputRecord[];
const on = (o: BatchItemOutcome, topic: string) =>
  outputsOf(o)
    .filter((r) => r.topic === topic)
    .map((r) => r.value);

describe('entry-replicator', () => {
  it('Scenario 3: the newer change is replicated, the stale one processed after it is rejected and counted', async () => {
    const { demand, entries, scoring, warnings, handle } = setup();
    demand.set('u1', 'c1', 2, at(5));
    const event1 = upsert('u1', ['A', 'B'], 1, at(0));
    const event2 = upsert('u1', ['A', 'C'], 2, at(5), 'c1', ['A', 'B']);

    const [second] = await handle([event2]);
    expect((await entries.getEntry('c1', 'u1'))?.markets).toEqual(['A', 'C']);
    expect(on(second!, TOPICS.rejected)).toEqual([]);

    const [first] = await handle([event1]);
    expect('outputs' in first!).toBe(true);
    expect(on(first!, TOPICS.rejected)).toEqual([
      {
        recordId: event1.value.recordId,
        campaignId: 'c1',
        globalUserId: 'u1',
        kind: 'UPSERT',
        reason: 'STALE',
        changeVersion: 1,
        changeUpdated: at(0),
        currentVersion: 2,
        currentUpdated: at(5),
        rejectedAt: 42,
      } satisfies EntryRejection,
    ]);
    expect(on(first!, TOPICS.users)).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect((await entries.getEntry('c1', 'u1'))?.markets).toEqual(['A', 'C']);
    expect((await scoring.listRows('c1', 'A')).map((r) => r.globalUserId)).toEqual(['u1']);
    expect(await scoring.listRows('c1', 'B')).toEqual([]);
    expect(demand.get('u1', 'c1')?.needsReplication).toBe(false);
  });

  it('counts what it did: applied, stale-rejected, and already-current for a replay', async () => {
    const { demand, handle, counted } = setup();
    demand.set('u1', 'c1', 2, at(5));
    const event1 = upsert('u1', ['A', 'B'], 1, at(0));
    const event2 = upsert('u1', ['A', 'C'], 2, at(5), 'c1', ['A', 'B']);
    await handle([event2, event1]);
    expect(counted()).toEqual({ applied: 1, 'stale-rejected': 1 });
    await handle([event2]); // redelivered: the entry store has it already
    expect(counted()).toEqual({ 'already-current': 1 });
  });

  it('rejects a change whose date.updated differs even at the same version', async () => {
    const { demand, handle } = setup();
    demand.set('u1', 'c1', 2, at(6));
    const [o] = await handle([upsert('u1', ['A'], 2, at(5))]);
    expect(on(o!, TOPICS.rejected)).toMatchObject([{ reason: 'STALE' }]);
  });

  it('writes the entry, its scoring rows, unflags, and publishes the profile and data records', async () => {
    const { demand, entries, scoring, handle } = setup();
    demand.set('u1', 'c1', 3, at(9));
    const change = upsert('u1', ['A', 'C'], 3, at(9), 'c1', ['A', 'B']);
    const [o] = await handle([change]);
    expect(await entries.getEntry('c1', 'u1')).toMatchObject({
      markets: ['A', 'C'],
      version: 3,
      email: 'u1@example.test',
      phone: '+12025550123',
      date: { updated: at(9), fanModified: at(9) },
    });
    expect(await scoring.listRows('c1', 'C')).toMatchObject([
      { globalUserId: 'u1', phone: '+12025550123', locale: 'en-US', entryVersion: 3 },
    ]);
    expect(demand.unflags).toEqual(['u1@3']);
    const [profile] = on(o!, TOPICS.users) as UserProfile[];
    expect(profile).toMatchObject({
      globalUserId: 'u1',
      email: 'u1@example.test',
      version: 3,
      sourceRecordId: change.value.recordId,
    });
    const records = on(o!, TOPICS.dataRecords) as DataRecord[];
    expect(records.map((r) => [r.type, r.sourceRecordId])).toEqual([
      ['REGISTRATION', change.value.recordId],
      ['REGISTERED_MARKET', `${change.value.recordId}:A`],
      ['REGISTERED_MARKET', `${change.value.recordId}:C`],
      ['REGISTERED_MARKET', `${change.value.recordId}:B`],
    ]);
    expect(JSON.parse(records[0]!.data)).toMatchObject({
      campaignId: 'c1',
      globalUserId: 'u1',
      markets: ['A', 'C'],
      deleted: false,
    });
    expect(records[0]!.data).not.toContain('example.test');
    expect(JSON.parse(records[3]!.data)).toMatchObject({ marketId: 'B', deleted: true });
    expect(outputsOf(o!).every((r) => r.key === 'c1:u1' || r.topic === TOPICS.users)).toBe(true);
  });

  it('a withdrawal deletes the entry and its rows; an upsert of a deleted item is rejected', async () => {
    const { demand, entries, scoring, handle } = setup();
    demand.set('u1', 'c1', 1, at(0));
    await handle([upsert('u1', ['A', 'B'], 1, at(0))]);
    demand.items.clear();
    const [late, del] = await handle([
      upsert('u1', ['A', 'B'], 1, at(0)),
      remove('u1', ['A', 'B'], 1, at(0)),
    ]);
    expect(on(late!, TOPICS.rejected)).toMatchObject([{ reason: 'ITEM_DELETED' }]);
    expect(on(del!, TOPICS.rejected)).toEqual([]);
    expect(await entries.getEntry('c1', 'u1')).toBeUndefined();
    expect(await scoring.listRows('c1', 'A')).toEqual([]);
    const reg = (on(del!, TOPICS.dataRecords) as DataRecord[]).map((r) => [
      r.type,
      JSON.parse(r.data).deleted,
    ]);
    expect(reg).toEqual([
      ['REGISTRATION', true],
      ['REGISTERED_MARKET', true],
      ['REGISTERED_MARKET', true],
    ]);
  });

  it('rejects a deletion when the item exists again (a newer registration)', async () => {
    const { demand, handle } = setup();
    demand.set('u1', 'c1', 7, at(30));
    const [o] = await handle([remove('u1', ['A'], 5, at(20))]);
    expect(on(o!, TOPICS.rejected)).toMatchObject([{ reason: 'ITEM_RECREATED', currentVersion: 7 }]);
  });

  it('a failed DynamoDB read fails every change retriably and replicates nothing unvalidated', async () => {
    const { demand, entries, handle } = setup();
    demand.set('u1', 'c1', 1, at(0));
    demand.failReads = 1;
    const out = await handle([upsert('u1', ['A'], 1, at(0)), upsert('u2', ['A'], 1, at(0))]);
    expect(out.every((o) => 'error' in o && o.error instanceof RetriableError)).toBe(true);
    expect(await entries.countEntries('c1')).toBe(0);
    expect(demand.get('u1', 'c1')?.needsReplication).toBe(true);
  });

  it('a failed entry-store call fails its changes alone (retriably); the others succeed', async () => {
    const { demand, entries, handle } = setup();
    demand.set('u1', 'c1', 1, at(0));
    demand.set('u2', 'c2', 1, at(0));
    entries.failCampaign = 'c2';
    const [ok, bad] = await handle([upsert('u1', ['A'], 1, at(0)), upsert('u2', ['A'], 1, at(0), 'c2')]);
    expect('outputs' in ok!).toBe(true);
    expect('error' in bad! && bad.error).toBeInstanceOf(RetriableError);
    expect(demand.get('u2', 'c2')?.needsReplication).toBe(true);
  });

  it('a replay changes nothing and never goes backwards; a batch of 60 is written in calls of at most 25', async () => {
    const { demand, entries, scoring, handle } = setup();
    const batch = Array.from({ length: 60 }, (_, i) => {
      demand.set(`u${i}`, 'c1', 10, at(10));
      return upsert(`u${i}`, ['A'], 10, at(10));
    });
    const calls: number[] = [];
    const upsertEntries = entries.upsertEntries.bind(entries);
    entries.upsertEntries = async (cid, list) => {
      calls.push(list.length);
      return upsertEntries(cid, list);
    };
    await handle(batch);
    expect(calls).toEqual([25, 25, 10]);
    // The item moved on to version 11 with market B, replicated; then the old batch comes again.
    demand.set('u0', 'c1', 11, at(11));
    await handle([upsert('u0', ['B'], 11, at(11), 'c1', ['A'])]);
    const again = await handle(batch);
    expect(again.every((o) => 'outputs' in o)).toBe(true);
    expect((await entries.getEntry('c1', 'u0'))?.markets).toEqual(['B']);
    expect((await scoring.listRows('c1', 'A')).some((r) => r.globalUserId === 'u0')).toBe(false);
    expect(await entries.countEntries('c1')).toBe(60);
  });

  it('leaves the flag when the item changed between validation and unflag', async () => {
    const { demand, handle } = setup();
    demand.set('u1', 'c1', 1, at(0));
    const unflag = demand.unflag.bind(demand);
    demand.unflag = async (ref, v, u) => {
      demand.set('u1', 'c1', 2, at(1));
      return unflag(ref, v, u);
    };
    const [o] = await handle([upsert('u1', ['A'], 1, at(0))]);
    expect('outputs' in o!).toBe(true);
    expect(demand.get('u1', 'c1')).toMatchObject({ version: 2, needsReplication: true });
  });

  it('a DynamoDB read or store call that never answers fails the changes retriably instead of blocking', async () => {
    const { demand, entries, handle } = setup();
    demand.set('u1', 'c1', 1, at(0));
    const hang = () => new Promise<never>(() => {});
    const current = demand.current.bind(demand);
    demand.current = hang;
    const [o] = await handle([upsert('u1', ['A'], 1, at(0))]);
    expect('error' in o! && o.error).toBeInstanceOf(RetriableError);
    expect('error' in o! && String(o.error)).toMatch(/demand-table read: no answer within 200 ms/);
    demand.current = current;
    entries.upsertEntries = hang;
    const [p] = await handle([upsert('u1', ['A'], 1, at(0))]);
    expect('error' in p! && String(p.error)).toMatch(/entry store write: no answer/);
    expect(demand.get('u1', 'c1')?.needsReplication).toBe(true);
  });
});
