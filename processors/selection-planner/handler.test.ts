import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../campaigns/campaign.ts';
import { SimulatedClock } from '../../lib/clock.ts';
import type { HandlerContext, InputRecord, OutputRecord } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SelectionRequest, SelectionResult, SelectionStats } from '../../schemas/types.generated.ts';
import { candidate, rank, seedHashOf } from '../../selection/draw.ts';
import { PagedScans, type ScanRow } from '../../selection/scan.ts';
import type { RunDoc } from '../../selection/store.ts';
import { type PlannerResources, plannerHandler } from './handler.ts';

const SEED = 'f'.repeat(64);

/** In-memory resources; the market's rows are scanned through the real PagedScans (array cursors). */
function fakes(rows: ScanRow[], pool: string[], ticketer: 'TM' | 'OTHER' = 'OTHER', status = 'CLOSED') {
  const held = new Map<string, string>(); // code -> run
  const runs: RunDoc[] = [];
  let opened = 0;
  const scans = new PagedScans(() => {
    opened++;
    let i = 0;
    return { next: async () => rows[i++] ?? null, close: async () => {} };
  });
  const resources: PlannerResources = {
    selection: {
      ensureSeed: async (campaignId) => ({
        _id: campaignId,
        seed: SEED,
        seedHash: seedHashOf(SEED),
        createdAt: '',
      }),
      revealSeed: async () => {},
      saveRun: async (r) => {
        const prev = runs.findLast((x) => x.runId === r.runId);
        runs.push({ ...prev, ...r, _id: r.runId, startedAt: '', updatedAt: '' });
      },
      marketRows: (c, m) => scans.all(c, m),
      pageRows: (c, m, runId, afterId, untilId) => scans.page(runId, c, m, afterId, untilId),
    },
    codes: {
      reserve: async (_c, _m, n, runId) => {
        for (const code of pool) {
          if ([...held.values()].filter((r) => r === runId).length >= n) break;
          if (!held.has(code)) held.set(code, runId);
        }
        return [...held]
          .filter(([, r]) => r === runId)
          .map(([c]) => c)
          .sort();
      },
      release: async (_c, _m, runId, keep = []) => {
        let n = 0;
        for (const [code, r] of held) {
          if (r === runId && !keep.includes(code)) {
            held.delete(code);
            n++;
          }
        }
        return n;
      },
      sharedCode: async () => pool[0],
    },
    campaigns: {
      get: async (id) => ({ id, status, markets: [{ id: 'LA', ticketer }] }) as unknown as Campaign,
    },
  };
  return { resources, held, runs, scans, opened: () => opened };
}

const record = (value: SelectionRequest): InputRecord<SelectionRequest> => ({
  topic: 'requests',
  partition: 0,
  offset: '0',
  key: 'c|LA',
  value,
  headers: {},
  timestamp: '0',
  attempt: 1,
});
const req = (winners: number, runId = 'run-1') =>
  record({
    runId,
    campaignId: 'c',
    marketId: 'LA',
    winners,
    requestedAt: 0,
    requestedBy: 'test',
    page: null,
  });

const PAGE_SIZE = 4;
const options = {
  resultsTopic: 'results',
  statsTopic: 'stats',
  requestsTopic: 'requests',
  minReserve: 5,
  batchSize: 3,
  pageSize: PAGE_SIZE,
  clock: new SimulatedClock(new Date('2027-01-01T00:00:00Z')),
};
const handler = plannerHandler(options);

interface Logged {
  msg?: string;
  obj: Record<string, unknown>;
}
function ctx(resources: PlannerResources, extra: Partial<HandlerContext<PlannerResources>> = {}) {
  const logged: Logged[] = [];
  const log = {
    info: (obj: object, msg?: string) => void logged.push({ obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg?: string) => void logged.push({ obj: obj as Record<string, unknown>, msg }),
  };
  return { c: { processor: 'p', log, resources, ...extra }, logged };
}
const results = (out: readonly OutputRecord[]) =>
  out.filter((o) => o.topic === 'results').map((o) => o.value as SelectionResult);
const stats = (out: readonly OutputRecord[]) =>
  out.filter((o) => o.topic === 'stats').map((o) => o.value as SelectionStats);
const pages = (out: readonly OutputRecord[]) =>
  out.filter((o) => o.topic === 'requests').map((o) => o.value as SelectionRequest);
const row = (i: number, extra: Partial<ScanRow> = {}): ScanRow => ({
  _id: `c:LA:f${i}`,
  globalUserId: `f${i}`,
  score: i % 3,
  ...extra,
});
const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => row(i));

/**
 * Handles a request, then its page records in the order they were written (as the partition
 * delivers them); returns the outputs of each call (one transaction each).
 */
async function drive(resources: PlannerResources, first: InputRecord<SelectionRequest>) {
  const calls: OutputRecord[][] = [];
  const queue = [first];
  const { c, logged } = ctx(resources);
  while (queue.length > 0) {
    const out = await handler(queue.shift()!, c);
    calls.push([...out]);
    queue.push(...pages(out).map(record));
  }
  return { calls, all: calls.flat(), logged };
}

describe('selection-planner', () => {
  it('emits winners with distinct codes first, then every other candidate as a loser in pages; stats PROCESSING then FINISHED', async () => {
    const f = fakes([...rowsOf(10), { _id: 'c:LA:broken', score: 9 }], ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    const { calls, all } = await drive(f.resources, req(3));
    // The request: PROCESSING, the 3 winners, and one page record per 4 rows of the 11 (3 pages).
    const [first, ...rest] = calls;
    expect(stats(first!).map((s) => s.status)).toEqual(['PROCESSING']);
    expect(results(first!).flatMap((b) => b.losers)).toEqual([]);
    const winners = results(first!).flatMap((b) => b.winners);
    expect(winners.map((w) => w.code)).toEqual(['A', 'B', 'C']);
    expect(winners.every((w) => ['f2', 'f5', 'f8'].includes(w.globalUserId))).toBe(true); // score 2
    const p = pages(first!).map((r) => r.page!);
    expect(p.map((x) => [x.index, x.pages, x.afterId, x.untilId])).toEqual([
      [0, 3, null, 'c:LA:f3'],
      [1, 3, 'c:LA:f3', 'c:LA:f7'],
      [2, 3, 'c:LA:f7', 'c:LA:broken'],
    ]);
    // Each page: its losers only, no further page; the last one FINISHED.
    expect(rest).toHaveLength(3);
    expect(rest.every((out) => pages(out).length === 0)).toBe(true);
    expect(rest.map((out) => stats(out).map((s) => s.status))).toEqual([[], [], ['FINISHED']]);
    expect(rest.map((out) => results(out).flatMap((b) => b.losers))).toEqual([
      ['f0', 'f1', 'f3'],
      ['f4', 'f6', 'f7'],
      ['f9'],
    ]);
    // Batch numbers never repeat; at most batchSize fans each.
    const batches = results(all).map((b) => b.batch);
    expect(new Set(batches).size).toBe(batches.length);
    expect(results(all).every((b) => b.winners.length + b.losers.length <= 3)).toBe(true);
    expect(stats(all).at(-1)).toMatchObject({
      total: 11,
      processed: 3,
      failed: 1,
      seed: SEED,
      seedHash: seedHashOf(SEED),
    });
    // The reporter's target was recorded before any result: 10 candidates.
    expect(f.runs.find((r) => r.status === 'PROCESSING')).toMatchObject({ decided: 10, processed: 3 });
    expect(f.runs.at(-1)).toMatchObject({ status: 'FINISHED', decided: 10, total: 11, failed: 1 });
    // min reserve 5: the surplus over the 3 winners went back to the pool.
    expect([...f.held.keys()].sort()).toEqual(['A', 'B', 'C']);
  });

  it('every candidate gets exactly one verdict, in rank order for the winners, whatever the page size', async () => {
    const rows = Array.from({ length: 103 }, (_, i) => row(i, { score: i % 5 }));
    const f = fakes(
      rows,
      Array.from({ length: 20 }, (_, i) => `K${String(i).padStart(2, '0')}`),
    );
    const { all } = await drive(f.resources, req(12));
    const winners = results(all).flatMap((b) => b.winners.map((w) => w.globalUserId));
    const losers = results(all).flatMap((b) => b.losers);
    const expected = rank(
      rows.map((r) => candidate(SEED, { globalUserId: r.globalUserId!, score: r.score })),
    );
    expect(winners).toEqual(expected.slice(0, 12).map((c) => c.globalUserId));
    expect(new Set(losers)).toEqual(new Set(expected.slice(12).map((c) => c.globalUserId)));
    expect(losers).toHaveLength(91);
  });

  it("pages resume the previous page's cursor; a page handled again (redelivered) scans anew and emits the same", async () => {
    const f = fakes(rowsOf(10), ['A', 'B', 'C', 'D', 'E']);
    const { calls, logged } = await drive(f.resources, req(2));
    const resumed = logged.filter((l) => l.msg === 'selection losers page').map((l) => l.obj.resumed);
    expect(resumed).toEqual([false, true, true]);
    expect(f.opened()).toBe(2); // the ranking pass, then one scan for the three pages
    // Page 1 again (its transaction aborted, or a restart): a new scan, skipped to its start row.
    const page1 = pages(calls[0]!)[1]!;
    const { c, logged: again } = ctx(f.resources);
    const out = await handler(record(page1), c);
    expect(out).toEqual(calls[2]);
    expect(again.find((l) => l.msg === 'selection losers page')?.obj.resumed).toBe(false);
    expect(f.opened()).toBe(3);
  });

  it('a redelivered request produces the same outputs, pages included, and holds the same codes', async () => {
    const f = fakes(rowsOf(10), ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    const first = await drive(f.resources, req(3));
    const again = await drive(f.resources, req(3));
    const strip = (out: OutputRecord[]) => out.filter((o) => o.topic !== 'stats');
    expect(again.calls.map(strip)).toEqual(first.calls.map(strip));
    expect([...f.held.keys()].sort()).toEqual(['A', 'B', 'C']);
  });

  it("a run's own winners already saved stay winners; another run's winners are not candidates", async () => {
    const rows = rowsOf(10);
    const f = fakes(rows, ['A', 'B', 'C', 'D', 'E']);
    const first = await drive(f.resources, req(3));
    const won = results(first.all).flatMap((b) => b.winners.map((w) => w.globalUserId));
    // The saver wrote run-1's winners; one loser was won by another run meanwhile.
    for (const r of rows)
      if (won.includes(r.globalUserId!)) Object.assign(r, { verdict: true, selectedRunId: 'run-1' });
    Object.assign(rows[0]!, { verdict: true, selectedRunId: 'other' });
    const again = await drive(f.resources, req(3));
    expect(results(again.all).flatMap((b) => b.winners.map((w) => w.globalUserId))).toEqual(won);
    const losers = results(again.all).flatMap((b) => b.losers);
    expect(losers).not.toContain('f0');
    expect(losers).toHaveLength(6);
  });

  it('too few codes: FAILED, no result, no page, reservations released', async () => {
    const f = fakes(rowsOf(10), ['A', 'B']);
    const { c } = ctx(f.resources);
    const out = await handler(req(3), c);
    expect(results(out)).toEqual([]);
    expect(pages(out)).toEqual([]);
    expect(stats(out)).toHaveLength(1);
    expect(stats(out)[0]).toMatchObject({
      status: 'FAILED',
      reason: 'codes: 3 winners need 3 codes, the pool of LA had 2',
      total: 10,
    });
    expect(f.held.size).toBe(0);
    expect(f.runs.at(-1)?.status).toBe('FAILED');
  });

  it('finishes in the first call when there is no loser', async () => {
    const f = fakes(rowsOf(4), ['A', 'B', 'C', 'D', 'E']);
    const { c } = ctx(f.resources);
    const out = await handler(req(9), c);
    expect(pages(out)).toEqual([]);
    expect(results(out).flatMap((b) => b.winners)).toHaveLength(4);
    expect(stats(out).map((s) => s.status)).toEqual(['PROCESSING', 'FINISHED']);
    expect(f.runs.at(-1)).toMatchObject({ status: 'FINISHED', decided: 4, processed: 4 });
  });

  it('heartbeats while it pages the rows (a run over a million rows takes minutes)', async () => {
    const f = fakes(rowsOf(2_500), ['A', 'B', 'C', 'D', 'E']);
    let beats = 0;
    const heartbeat = async () => void beats++;
    const first = await handler(req(3), ctx(f.resources, { heartbeat }).c);
    expect(beats).toBe(2); // 1,000 rows per heartbeat in the ranking pass
    const big = plannerHandler({ ...options, pageSize: 2_000 });
    const again = await big(req(3), ctx(f.resources, { heartbeat }).c);
    const [p0, p1] = pages(again);
    beats = 0;
    await big(record(p0!), ctx(f.resources, { heartbeat }).c);
    await big(record(p1!), ctx(f.resources, { heartbeat }).c);
    expect(beats).toBe(2); // 2,000 rows in page 0, 500 in page 1
    expect(pages(first).length).toBe(625); // pages of 4 rows
  });

  it('a TM market pairs every winner with the shared code', async () => {
    const f = fakes(rowsOf(6), ['TM1'], 'TM');
    const { all } = await drive(f.resources, req(4));
    expect(results(all).flatMap((b) => b.winners.map((w) => w.code))).toEqual(['TM1', 'TM1', 'TM1', 'TM1']);
    expect(results(all).every((b) => b.sharedCode)).toBe(true);
    expect(results(all).flatMap((b) => b.losers)).toHaveLength(2);
  });

  it('refuses an open campaign and a bad winner count with FAILED stats naming the field', async () => {
    const open = fakes(rowsOf(3), ['A'], 'OTHER', 'ACTIVE');
    expect(stats(await handler(req(1), ctx(open.resources).c))[0]?.reason).toMatch(
      /campaignId: .* is ACTIVE, selection needs CLOSED/,
    );
    const f = fakes(rowsOf(3), ['A']);
    expect(stats(await handler(req(0), ctx(f.resources).c))[0]?.reason).toMatch(
      /^winners: expected an integer ≥ 1/,
    );
  });

  it('a request written before pages existed (no page field) is a request', async () => {
    const f = fakes(rowsOf(6), ['A', 'B', 'C', 'D', 'E']);
    const { page: _, ...old } = req(2).value;
    const out = await handler(record(old as SelectionRequest), ctx(f.resources).c);
    expect(stats(out)[0]?.status).toBe('PROCESSING');
    expect(pages(out).length).toBeGreaterThan(0);
  });

  it('the request schema stays BACKWARD compatible: a request written before pages reads with page null', () => {
    const current = loadSchema('selection-request') as { fields: Array<{ name: string }> };
    const before = { ...current, fields: current.fields.filter((f) => f.name !== 'page') };
    const writer = avro.Type.forSchema(before as never);
    const reader = avro.Type.forSchema(current as never);
    const { page: _, ...old } = req(2).value;
    const read = reader.fromBuffer(writer.toBuffer(old), reader.createResolver(writer)) as SelectionRequest;
    expect(read).toEqual({ ...old, page: null });
  });

  it('rejects a bad page record naming the field (dead-lettered, nothing emitted)', async () => {
    const f = fakes(rowsOf(10), ['A', 'B', 'C', 'D', 'E']);
    const out = await handler(req(2), ctx(f.resources).c);
    const good = pages(out)[1]!;
    const bad = (page: object) =>
      handler(record({ ...good, page: { ...good.page!, ...page } }), ctx(f.resources).c);
    await expect(bad({ index: 3 })).rejects.toThrow(/^page\.index: expected an integer in \[0, 3\), got 3/);
    await expect(bad({ untilId: '' })).rejects.toThrow(/^page\.untilId/);
    await expect(bad({ afterId: null })).rejects.toThrow(/^page\.afterId: page 1 must start after a row/);
    await expect(bad({ afterId: 'c:LA:gone' })).rejects.toThrow(
      /^page\.afterId: c:LA:gone is not a scoring row/,
    );
  });
});
