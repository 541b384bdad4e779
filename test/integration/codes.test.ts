import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMongo } from '../../lib/clients.ts';
import { MongoCodeStore, parseCodeFile } from '../../stores/codes.ts';
import { config, uniqueName } from '../support.ts';

const client = createMongo(config.mongodb);
let db: Db;

beforeAll(async () => {
  await client.connect();
  db = client.db(uniqueName('codes').replace(/-/g, '_'));
});

afterAll(async () => {
  await db.dropDatabase().catch(() => {});
  await client.close();
});

const codes = (n: number, prefix = 'C') =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

describe('code store (FerretDB)', () => {
  it('imports idempotently and counts per pool', async () => {
    const store = new MongoCodeStore(db);
    await store.init();
    expect(await store.importCodes('camp', 'LA', codes(10))).toEqual({ added: 10 });
    expect(await store.importCodes('camp', 'LA', codes(12))).toEqual({ added: 2 });
    expect(await store.counts('camp')).toEqual([
      { campaignId: 'camp', marketId: 'LA', available: 12, reserved: 0, assigned: 0, total: 12 },
    ]);
  });

  it('a rejected file leaves nothing imported (validation before any write)', async () => {
    const store = new MongoCodeStore(db);
    const text = 'code\nA1\nA2\n\nA1\nA3,x\n';
    expect(() => parseCodeFile(text)).toThrow(
      /line 4: empty line.*line 5: duplicate code A1 \(first on line 2\).*line 6: expected 1 column/,
    );
    expect(await store.counts('camp', 'REJ')).toEqual([]);
  });

  it('parallel reservers never get the same code; a run reserves idempotently; release and assign are idempotent', async () => {
    const store = new MongoCodeStore(db);
    await store.importCodes('camp', 'NY', codes(300, 'N'));
    const runs = Array.from({ length: 4 }, (_, i) => `run-${i}`);
    // 4 reservers of 40 each (two calls each) race over 300 codes, each with a second concurrent call for the same run.
    const results = await Promise.all(
      runs.flatMap((run) => [store.reserve('camp', 'NY', 40, run), store.reserve('camp', 'NY', 40, run)]),
    );
    const byRun = new Map<string, Set<string>>();
    const all = await db
      .collection('codes')
      .find({ campaignId: 'camp', marketId: 'NY', status: 'reserved' })
      .toArray();
    for (const d of all) {
      const s = byRun.get(d.runId) ?? new Set<string>();
      s.add(d.code);
      byRun.set(d.runId, s);
    }
    // What each call was told it won: no code went to two runs.
    const owner = new Map<string, string>();
    results.forEach((got, k) => {
      const run = runs[Math.floor(k / 2)]!;
      for (const c of got) {
        expect(owner.get(c) ?? run).toBe(run);
        owner.set(c, run);
      }
    });
    const total = [...byRun.values()].reduce((a, s) => a + s.size, 0);
    expect(total).toBe(all.length); // one run per code (a code document has one runId)
    for (const run of runs) expect(byRun.get(run)?.size ?? 0).toBeGreaterThanOrEqual(40);
    // A later call of the same run returns exactly what it holds, reserving nothing new.
    for (const [i, run] of runs.entries()) {
      const again = await store.reserve('camp', 'NY', 40, run);
      expect(again).toEqual([...byRun.get(run)!].sort());
      expect(results[2 * i]!.every((c) => byRun.get(run)!.has(c))).toBe(true);
    }
    // 300 - (reserved) remain; a run asking for more than remain gets what there is.
    const left = 300 - total;
    const greedy = await store.reserve('camp', 'NY', left + 5, 'greedy');
    expect(greedy).toHaveLength(left);
    expect(await store.release('camp', 'NY', 'greedy')).toBe(left);
    expect(await store.release('camp', 'NY', 'greedy')).toBe(0);

    const [code] = [...byRun.get('run-0')!];
    expect(await store.assign('camp', 'NY', code!, 'fan-1')).toBe('assigned');
    expect(await store.assign('camp', 'NY', code!, 'fan-1')).toBe('unchanged');
    await expect(store.assign('camp', 'NY', code!, 'fan-2')).rejects.toThrow(
      /already assigned to another fan/,
    );
    // Releasing a run keeps its assigned codes.
    await store.release('camp', 'NY', 'run-0');
    expect((await store.counts('camp', 'NY'))[0]).toMatchObject({ assigned: 1 });
    expect(await store.heldBy('camp', 'NY', 'run-0')).toEqual([code]);
  }, 180_000);
});
