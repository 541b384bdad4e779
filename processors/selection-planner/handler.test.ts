import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../campaigns/campaign.ts';
import { SimulatedClock } from '../../lib/clock.ts';
import type { InputRecord, OutputRecord } from '../../runtime/types.ts';
import type { SelectionRequest, SelectionResult, SelectionStats } from '../../schemas/types.generated.ts';
import { seedHashOf } from '../../selection/draw.ts';
import type { CandidateRow, RunDoc } from '../../selection/store.ts';
import { type PlannerResources, plannerHandler } from './handler.ts';

const SEED = 'f'.repeat(64);

function fakes(rows: CandidateRow[], pool: string[], ticketer: 'TM' | 'OTHER' = 'OTHER', status = 'CLOSED') {
  const held = new Map<string, string>(); // code -> run
  const runs: RunDoc[] = [];
  const resources: PlannerResources = {
    selection: {
      ensureSeed: async (campaignId) => ({
        _id: campaignId,
        seed: SEED,
        seedHash: seedHashOf(SEED),
        createdAt: '',
      }),
      revealSeed: async () => {},
      saveRun: async (r) => void runs.push({ ...r, _id: r.runId, startedAt: '', updatedAt: '' }),
      countRows: async () => rows.length,
      candidates: async function* () {
        yield* rows;
      },
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
  return { resources, held, runs };
}

const req = (winners: number, runId = 'run-1'): InputRecord<SelectionRequest> => ({
  topic: 'selection.requests',
  partition: 0,
  offset: '0',
  key: 'c|LA',
  value: { runId, campaignId: 'c', marketId: 'LA', winners, requestedAt: 0, requestedBy: 'test' },
  headers: {},
  timestamp: '0',
  attempt: 1,
});

const handler = plannerHandler({
  resultsTopic: 'results',
  statsTopic: 'stats',
  minReserve: 5,
  batchSize: 4,
  clock: new SimulatedClock(new Date('2027-01-01T00:00:00Z')),
});
const ctx = (resources: PlannerResources) => ({ processor: 'p', log: { info() {}, warn() {} }, resources });
const results = (out: readonly OutputRecord[]) =>
  out.filter((o) => o.topic === 'results').map((o) => o.value as SelectionResult);
const stats = (out: readonly OutputRecord[]) =>
  out.filter((o) => o.topic === 'stats').map((o) => o.value as SelectionStats);
const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ globalUserId: `f${i}`, score: i % 3 }));

describe('selection-planner', () => {
  it('emits winners with distinct codes, then every other candidate as a loser, in batches; stats PROCESSING then FINISHED', async () => {
    const f = fakes([...rowsOf(10), { score: 9 }], ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    const out = await handler(req(3), ctx(f.resources));
    const r = results(out);
    const winners = r.flatMap((b) => b.winners);
    const losers = r.flatMap((b) => b.losers);
    expect(winners.map((w) => w.code)).toEqual(['A', 'B', 'C']);
    expect(winners.every((w) => ['f2', 'f5', 'f8'].includes(w.globalUserId))).toBe(true); // score 2
    expect(losers).toHaveLength(7);
    expect(r.every((b) => b.winners.length + b.losers.length <= 4)).toBe(true);
    expect(r.map((b) => b.batch)).toEqual(r.map((_, i) => i));
    expect(stats(out).map((s) => s.status)).toEqual(['PROCESSING', 'FINISHED']);
    expect(stats(out)[1]).toMatchObject({
      total: 11,
      processed: 3,
      failed: 1,
      seed: SEED,
      seedHash: seedHashOf(SEED),
    });
    // min reserve 5: the surplus over the 3 winners went back to the pool.
    expect([...f.held.keys()].sort()).toEqual(['A', 'B', 'C']);
  });

  it('a redelivered request produces the same outputs and holds the same codes', async () => {
    const f = fakes(rowsOf(10), ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    const first = await handler(req(3), ctx(f.resources));
    const again = await handler(req(3), ctx(f.resources));
    expect(results(again)).toEqual(results(first));
    expect([...f.held.keys()].sort()).toEqual(['A', 'B', 'C']);
  });

  it('too few codes: FAILED, no result, reservations released', async () => {
    const f = fakes(rowsOf(10), ['A', 'B']);
    const out = await handler(req(3), ctx(f.resources));
    expect(results(out)).toEqual([]);
    expect(stats(out)).toHaveLength(1);
    expect(stats(out)[0]).toMatchObject({
      status: 'FAILED',
      reason: 'codes: 3 winners need 3 codes, the pool of LA had 2',
    });
    expect(f.held.size).toBe(0);
    expect(f.runs.at(-1)?.status).toBe('FAILED');
  });

  it('heartbeats while it pages the rows of both passes (a run over a million rows takes minutes)', async () => {
    const f = fakes(rowsOf(2_500), ['A', 'B', 'C', 'D', 'E']);
    let beats = 0;
    const out = await handler(req(3), {
      ...ctx(f.resources),
      heartbeat: async () => void beats++,
    });
    expect(stats(out).at(-1)?.status).toBe('FINISHED');
    // 1,000 rows per heartbeat: 2 in the ranking pass, 2 in the result pass.
    expect(beats).toBe(4);
  });

  it('a TM market pairs every winner with the shared code', async () => {
    const f = fakes(rowsOf(6), ['TM1'], 'TM');
    const winners = results(await handler(req(4), ctx(f.resources))).flatMap((b) => b.winners);
    expect(winners.map((w) => w.code)).toEqual(['TM1', 'TM1', 'TM1', 'TM1']);
  });

  it('refuses an open campaign and a bad winner count with FAILED stats naming the field', async () => {
    const open = fakes(rowsOf(3), ['A'], 'OTHER', 'ACTIVE');
    expect(stats(await handler(req(1), ctx(open.resources)))[0]?.reason).toMatch(
      /campaignId: .* is ACTIVE, selection needs CLOSED/,
    );
    const f = fakes(rowsOf(3), ['A']);
    expect(stats(await handler(req(0), ctx(f.resources)))[0]?.reason).toMatch(
      /^winners: expected an integer ≥ 1/,
    );
  });
});
