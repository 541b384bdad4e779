import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMongo } from '../../lib/clients.ts';
import type { ScanRow } from '../../selection/scan.ts';
import { SelectionStore } from '../../selection/store.ts';
import { writeScoringRows } from '../selection-harness.ts';
import { config, uniqueName } from '../support.ts';

// The planner's pages of losers on the real store (FerretDB locally): a page names the rows it
// starts after and ends with in the scan order of the market's rows, so that order must be the
// same for the ranking pass, for pages that resume a parked cursor, and for a page that opens a
// new scan (a redelivery, a restart) — also after the saver has written verdicts on some rows.

const dbName = uniqueName('selscan').replace(/-/g, '_');
const mongo = createMongo(config.mongodb);
let db: Db;
let store: SelectionStore;

const ids = async (rows: AsyncIterable<ScanRow>) => {
  const out: string[] = [];
  for await (const r of rows) out.push(r._id);
  return out;
};

beforeAll(async () => {
  await mongo.connect();
  db = mongo.db(dbName);
  store = new SelectionStore(db);
  await store.init();
  // Another market in the same collection; rows whose scan order is not the order of their _id.
  await writeScoringRows(db, 'c', 'LA', 0, 1_200, (i) => i % 4);
  await writeScoringRows(db, 'c', 'NY', 0, 300, () => undefined);
  await db.collection('scoring_rows').insertMany(
    [7, 3, 9].map((k) => ({
      _id: `c:LA:a-late-${k}`,
      campaignId: 'c',
      marketId: 'LA',
      globalUserId: `late-${k}`,
    })) as never[],
  );
}, 120_000);

afterAll(async () => {
  await store?.close();
  await db?.dropDatabase().catch(() => {});
  await mongo.close();
});

describe('market scans for the planner (real store)', () => {
  it('pages, resumed or scanned anew, cover the ranking pass exactly, in its order, after verdict writes too', async () => {
    const all = await ids(store.marketRows('c', 'LA'));
    expect(all).toHaveLength(1_203);
    expect(new Set(all).size).toBe(1_203);
    const ends = [all[399]!, all[799]!, all.at(-1)!];
    // The saver writes verdicts on some rows between the ranking and the pages.
    for (const id of [all[5]!, all[450]!, all[1_000]!])
      await db
        .collection('scoring_rows')
        .updateOne({ _id: id as never }, { $set: { verdict: true, selectedRunId: 'r1' } });
    const resumed: boolean[] = [];
    const paged: string[] = [];
    for (let i = 0; i < ends.length; i++) {
      const p = await store.pageRows('c', 'LA', 'r1', i === 0 ? null : ends[i - 1]!, ends[i]!);
      resumed.push(p.resumed);
      paged.push(...(await ids(p.rows)));
    }
    expect(resumed).toEqual([false, true, true]);
    expect(paged).toEqual(all);
    // Page 1 again from another store instance (a restarted planner): a new scan, the same rows.
    const fresh = new SelectionStore(db);
    const again = await fresh.pageRows('c', 'LA', 'r1', ends[0]!, ends[1]!);
    expect(again.resumed).toBe(false);
    expect(await ids(again.rows)).toEqual(all.slice(400, 800));
    await fresh.close();
  }, 120_000);

  it('the rows carry what the draw needs: the fan, the score, and a verdict written by a run', async () => {
    const rows: ScanRow[] = [];
    for await (const r of store.marketRows('c', 'LA')) rows.push(r);
    const won = rows.filter((r) => r.verdict === true);
    expect(won).toHaveLength(3);
    expect(won.every((r) => r.selectedRunId === 'r1')).toBe(true);
    expect(rows.find((r) => r.globalUserId === 'fan-0000006')?.score).toBe(2);
  }, 60_000);
});
