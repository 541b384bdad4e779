import { describe, expect, it } from 'vitest';
import { readAhead } from './read-ahead.ts';

/** A source of `n` pages that logs when each read starts and lets the test decide when it ends. */
function source(n: number, failAt?: number) {
  const started: number[] = [];
  let closed = false;
  async function* pages() {
    try {
      for (let i = 0; i < n; i++) {
        started.push(i);
        await new Promise((r) => setTimeout(r, 1));
        if (i === failAt) throw new Error(`page ${i} failed`);
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  return { pages: pages(), started, closed: () => closed };
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('readAhead', () => {
  it('keeps order and reads up to depth pages ahead while the consumer is busy, no further', async () => {
    const s = source(10);
    const it = readAhead(s.pages, 3)[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(0);
    await tick(); // the consumer is busy with page 0 (writes waiting)
    expect(s.started).toEqual([0, 1, 2, 3]); // pages 1..3 read meanwhile
    const rest: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(rest).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.closed()).toBe(true);
  });

  it('hands the source error to the consumer in its place, after the pages before it', async () => {
    const s = source(10, 4);
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const p of readAhead(s.pages, 2)) got.push(p);
      })(),
    ).rejects.toThrow('page 4 failed');
    expect(got).toEqual([0, 1, 2, 3]);
  });

  it('closes the source when the consumer stops early', async () => {
    const s = source(100);
    for await (const p of readAhead(s.pages, 4)) if (p === 2) break;
    expect(s.closed()).toBe(true);
    expect(s.started.length).toBeLessThanOrEqual(3 + 4);
  });

  it('refuses a depth below 1', async () => {
    await expect(readAhead(source(1).pages, 0).next()).rejects.toThrow(RangeError);
  });
});
