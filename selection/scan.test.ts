import { describe, expect, it } from 'vitest';
import { PagedScans, type ScanRow } from './scan.ts';

const rows: ScanRow[] = Array.from({ length: 10 }, (_, i) => ({ _id: `r${i}` }));

function scans(options: ConstructorParameters<typeof PagedScans>[1] = {}) {
  const log = { opened: 0, closed: 0 };
  const s = new PagedScans(() => {
    log.opened++;
    let i = 0;
    return {
      next: async () => rows[i++] ?? null,
      close: async () => void log.closed++,
    };
  }, options);
  return { s, log };
}

const ids = async (it: AsyncIterable<ScanRow>) => {
  const out: string[] = [];
  for await (const r of it) out.push(r._id);
  return out;
};

describe('PagedScans', () => {
  it('reads pages of one scan, the next page resuming the cursor the previous one parked', async () => {
    const { s, log } = scans();
    const a = await s.page('run', 'c', 'm', null, 'r3');
    expect([a.resumed, await ids(a.rows)]).toEqual([false, ['r0', 'r1', 'r2', 'r3']]);
    const b = await s.page('run', 'c', 'm', 'r3', 'r6');
    expect([b.resumed, await ids(b.rows)]).toEqual([true, ['r4', 'r5', 'r6']]);
    const c = await s.page('run', 'c', 'm', 'r6', 'r9');
    expect([c.resumed, await ids(c.rows)]).toEqual([true, ['r7', 'r8', 'r9']]);
    expect(log.opened).toBe(1);
  });

  it('any other page opens a new scan and skips through its start row: the same rows', async () => {
    const { s, log } = scans();
    await ids((await s.page('run', 'c', 'm', null, 'r3')).rows);
    const again = await s.page('run', 'c', 'm', null, 'r3'); // redelivered
    expect([again.resumed, await ids(again.rows)]).toEqual([false, ['r0', 'r1', 'r2', 'r3']]);
    const other = await s.page('other-run', 'c', 'm', 'r6', 'r9'); // nothing parked for it
    expect([other.resumed, await ids(other.rows)]).toEqual([false, ['r7', 'r8', 'r9']]);
    expect(log.opened).toBe(3);
    // The parked cursor of `run` (after r3) was closed when its page came again.
    expect(log.closed).toBe(1);
  });

  it('a page left unfinished closes its cursor and parks nothing', async () => {
    const { s, log } = scans();
    const p = await s.page('run', 'c', 'm', null, 'r5');
    for await (const r of p.rows) if (r._id === 'r2') break;
    expect(s.parkedCount).toBe(0);
    expect(log.closed).toBe(1);
    const next = await s.page('run', 'c', 'm', 'r5', 'r9');
    expect([next.resumed, await ids(next.rows)]).toEqual([false, ['r6', 'r7', 'r8', 'r9']]);
  });

  it('a start row that is not in the market is a permanent error naming the field', async () => {
    const { s } = scans();
    const p = await s.page('run', 'c', 'm', 'gone', 'r9');
    await expect(ids(p.rows)).rejects.toThrow(/^page\.afterId: gone is not a scoring row of c\/m/);
  });

  it('a page whose end row is gone ends with the scan', async () => {
    const { s } = scans();
    const p = await s.page('run', 'c', 'm', 'r7', 'gone');
    expect(await ids(p.rows)).toEqual(['r8', 'r9']);
    expect(s.parkedCount).toBe(0);
  });

  it('keeps at most maxParked cursors and closes those idle too long', async () => {
    let now = 0;
    const { s, log } = scans({ maxParked: 2, idleMs: 1_000, now: () => now });
    for (const run of ['a', 'b', 'c']) await ids((await s.page(run, 'c', 'm', null, 'r1')).rows);
    expect(s.parkedCount).toBe(2);
    expect(log.closed).toBe(1); // a's, the oldest
    now = 5_000;
    const p = await s.page('b', 'c', 'm', 'r1', 'r2');
    expect(p.resumed).toBe(false); // b's cursor idled out
    expect(await ids(p.rows)).toEqual(['r2']);
    expect(s.parkedCount).toBe(1);
    await s.closeAll();
    expect(s.parkedCount).toBe(0);
    expect(log.closed).toBe(log.opened);
  });
});
