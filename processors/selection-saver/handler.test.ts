import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../lib/clock.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { SelectionResult } from '../../schemas/types.generated.ts';
import { type SaverResources, saverHandler } from './handler.ts';

const result = (batch: number, over: Partial<SelectionResult> = {}): InputRecord<SelectionResult> => ({
  topic: 'selection.results',
  partition: 0,
  offset: String(batch),
  key: `c|LA|r1|${batch}`,
  value: {
    runId: 'r1',
    campaignId: 'c',
    marketId: 'LA',
    batch,
    sharedCode: false,
    winners: [{ globalUserId: 'f1', code: 'K1' }],
    losers: ['f2', 'f3'],
    ...over,
  },
  headers: {},
  timestamp: '0',
  attempt: 1,
});

function fakes() {
  const entryWrites: string[][] = [];
  const verdictWrites: Array<{ winners: string[]; losers: readonly string[]; progress: boolean }> = [];
  const resources: SaverResources = {
    entries: {
      recordVerdicts: async (_c, _m, _r, winners, _losers, options) => {
        entryWrites.push(winners.map((w) => `${w.globalUserId}=${w.code}`));
        for (const _ of winners) await options?.onProgress?.();
        return { written: winners.length, skipped: 0 };
      },
    },
    verdicts: {
      writeVerdicts: async (_c, _m, _r, winners, losers, _at, options) => {
        verdictWrites.push({
          winners: winners.map((w) => w.globalUserId),
          losers,
          progress: options?.onProgress !== undefined,
        });
        for (let i = 0; i < winners.length + losers.length; i++) await options?.onProgress?.();
        return { written: winners.length + losers.length, unchanged: 0 };
      },
    },
  };
  return { resources, entryWrites, verdictWrites };
}

const handler = saverHandler({ countsTopic: 'counts', clock: new SimulatedClock(new Date(0)) });

describe('selection-saver', () => {
  it('assigns the winners their code in the entry store, writes every verdict, emits the counts', async () => {
    const f = fakes();
    let beats = 0;
    const out = await handler([result(0), result(1, { winners: [], losers: ['f4'] })], {
      processor: 'saver',
      log: { info() {}, warn() {} },
      resources: f.resources,
      heartbeat: async () => void beats++,
    });
    // The two results of a batch are written side by side: compare in any order.
    expect(f.entryWrites.sort()).toEqual([[], ['f1=K1']]);
    expect(f.verdictWrites.map((v) => [v.winners, v.losers]).sort()).toEqual([
      [[], ['f4']],
      [['f1'], ['f2', 'f3']],
    ]);
    // Heartbeats as the writes land (a batch is thousands of writes; an entry-store write can take
    // seconds on FerretDB): 1 winner row + 4 verdicts.
    expect(f.verdictWrites.every((v) => v.progress)).toBe(true);
    expect(beats).toBe(5);
    expect(out.map((o) => ('outputs' in o ? o.outputs[0]?.value : o.error))).toEqual([
      { runId: 'r1', campaignId: 'c', marketId: 'LA', batch: 0, winners: 1, losers: 2, skipped: 0 },
      { runId: 'r1', campaignId: 'c', marketId: 'LA', batch: 1, winners: 0, losers: 1, skipped: 0 },
    ]);
  });

  it('fails a result that pairs one code twice alone, naming the field, and writes nothing for it', async () => {
    const f = fakes();
    const bad = result(2, {
      winners: [
        { globalUserId: 'f1', code: 'K1' },
        { globalUserId: 'f9', code: 'K1' },
      ],
    });
    const out = await handler([bad, result(3)], {
      processor: 'saver',
      log: { info() {}, warn() {} },
      resources: f.resources,
    });
    expect('error' in out[0]! && String(out[0].error)).toMatch(/winners\[1\]\.code: K1 paired twice/);
    expect('outputs' in out[1]!).toBe(true);
    expect(f.verdictWrites).toHaveLength(1);
  });
});
