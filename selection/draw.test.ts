import { describe, expect, it } from 'vitest';
import {
  auditMarket,
  type Candidate,
  candidate,
  compareCandidates,
  drawKeyOf,
  pairCodes,
  rank,
  scoreOrder,
  seedHashOf,
  TopN,
} from './draw.ts';

const SEED = 'a'.repeat(64);

/** A small deterministic PRNG so the exhaustive cases are reproducible. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const fans = (n: number, score?: (i: number) => number | undefined) =>
  Array.from({ length: n }, (_, i) => candidate(SEED, { globalUserId: `fan-${i}`, score: score?.(i) }));

describe('the draw', () => {
  it('keys ties with HMAC-SHA256(seed, globalUserId) and publishes SHA-256(seed)', () => {
    expect(drawKeyOf(SEED, 'fan-1')).toMatch(/^[0-9a-f]{64}$/);
    expect(drawKeyOf(SEED, 'fan-1')).toBe(drawKeyOf(SEED, 'fan-1'));
    expect(drawKeyOf(SEED, 'fan-1')).not.toBe(drawKeyOf('b'.repeat(64), 'fan-1'));
    expect(seedHashOf('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('ranks by score, highest first; rows without a score last; ties by drawKey', () => {
    const a = candidate(SEED, { globalUserId: 'a', score: 5 });
    const b = candidate(SEED, { globalUserId: 'b', score: 9 });
    const c = candidate(SEED, { globalUserId: 'c' });
    const d = candidate(SEED, { globalUserId: 'd', score: 5 });
    const ranked = rank([a, b, c, d]).map((x) => x.globalUserId);
    expect(ranked[0]).toBe('b');
    expect(ranked[3]).toBe('c');
    const [first] = [a, d].sort((x, y) => (x.drawKey < y.drawKey ? -1 : 1));
    expect(ranked[1]).toBe(first!.globalUserId);
    expect(compareCandidates(a, a)).toBe(0);
  });

  it('without scores every fan ties, and the seed alone decides', () => {
    const one = rank(fans(50)).map((f) => f.globalUserId);
    const other = rank(fans(50).map((f) => candidate('c'.repeat(64), f))).map((f) => f.globalUserId);
    expect(new Set(one).size).toBe(50);
    expect(one).not.toEqual(other);
    expect(one).toEqual(rank(fans(50).reverse()).map((f) => f.globalUserId));
  });

  it('TopN equals the first N of the full ranking, for every N and many orders and score shapes', () => {
    for (let trial = 0; trial < 40; trial++) {
      const rnd = prng(trial + 1);
      const size = 1 + Math.floor(rnd() * 120);
      const shape = trial % 4;
      const pool = fans(size, (i) =>
        shape === 0
          ? undefined
          : shape === 1
            ? Math.floor(rnd() * 4)
            : shape === 2
              ? i % 3 === 0
                ? undefined
                : Math.floor(rnd() * 3)
              : rnd(),
      );
      const expected = rank(pool).map((c) => c.globalUserId);
      for (const n of [0, 1, 2, Math.floor(size / 2), size - 1, size, size + 5]) {
        if (n < 0) continue;
        const top = new TopN(n);
        const shuffled = [...pool].sort(() => rnd() - 0.5);
        for (const c of shuffled) top.offer(c);
        expect(top.ranked().map((c) => c.globalUserId)).toEqual(expected.slice(0, n));
      }
    }
  });

  it('scoreOrder agrees with the full comparison whenever the scores alone decide', () => {
    const rnd = prng(7);
    const scores = [undefined, null, Number.NaN, 0, 1, 1, 2.5, -3];
    const pool = fans(200, () => scores[Math.floor(rnd() * scores.length)] as number | undefined);
    for (const a of pool)
      for (const b of pool.slice(0, 40)) {
        const byScore = scoreOrder(a.score, b);
        if (byScore !== 0) expect(Math.sign(byScore)).toBe(Math.sign(compareCandidates(a, b)));
        else expect(a.score ?? 'none').toBe(b.score ?? 'none');
      }
  });

  it('TopN.worst is the root of a full heap: what a newcomer must beat', () => {
    const pool = fans(30, (i) => i % 5);
    const top = new TopN(10);
    for (const c of pool.slice(0, 9)) top.offer(c);
    expect(top.worst).toBeUndefined();
    for (const c of pool.slice(9)) top.offer(c);
    expect(top.worst).toEqual(top.ranked().at(-1));
    expect(new TopN(0).worst).toBeUndefined();
  });

  it('pairs winners with codes in code order, or one shared code', () => {
    const w: Candidate[] = rank(fans(3));
    expect(pairCodes(w, { unique: ['z', 'b', 'a', 'q'] }).map((p) => p.code)).toEqual(['a', 'b', 'q']);
    expect(pairCodes(w, { shared: 'TM1' }).every((p) => p.code === 'TM1')).toBe(true);
    expect(() => pairCodes(w, { unique: ['a'] })).toThrow(/3 winners need as many codes, got 1/);
  });
});

describe('the audit', () => {
  const rowsFor = (runs: Array<{ runId: string; winners: number }>, size = 30) => {
    const pool = fans(size, (i) => i % 5);
    const ranked = rank(pool);
    const rows = pool.map(
      (c) => ({ globalUserId: c.globalUserId, score: c.score }) as Record<string, unknown>,
    );
    const byId = new Map(rows.map((r) => [r.globalUserId as string, r]));
    let at = 0;
    let code = 0;
    for (const run of runs) {
      for (const c of ranked.slice(at, at + run.winners))
        Object.assign(byId.get(c.globalUserId)!, {
          verdict: true,
          code: `K${code++}`,
          selectedRunId: run.runId,
        });
      for (const c of ranked.slice(at + run.winners)) {
        const r = byId.get(c.globalUserId)!;
        if (r.verdict !== true) Object.assign(r, { verdict: false, selectedRunId: run.runId });
      }
      at += run.winners;
    }
    return rows;
  };

  it('confirms an honest run and a second wave', () => {
    const runs = [
      { runId: 'r1', winners: 5 },
      { runId: 'r2', winners: 4 },
    ];
    const report = auditMarket(SEED, rowsFor(runs), runs);
    expect(report).toMatchObject({ ok: true, rows: 30, checked: 30, mismatches: [] });
  });

  it('detects a tampered verdict, a swapped winner, a duplicated code and a wrong seed', () => {
    const runs = [{ runId: 'r1', winners: 5 }];
    const tampered = rowsFor(runs);
    const loser = tampered.find((r) => r.verdict === false)!;
    Object.assign(loser, { verdict: true, code: 'X' });
    expect(auditMarket(SEED, tampered, runs).ok).toBe(false);

    const dup = rowsFor(runs);
    const winners = dup.filter((r) => r.verdict === true);
    winners[1]!.code = winners[0]!.code;
    expect(auditMarket(SEED, dup, runs).mismatches.join()).toMatch(/went to/);
    expect(auditMarket(SEED, dup, runs, { sharedCode: true }).ok).toBe(true);

    expect(auditMarket('b'.repeat(64), rowsFor(runs), runs).ok).toBe(false);
  });
});
