import { createHash, createHmac, randomBytes } from 'node:crypto';

// The draw, as pure functions (no I/O): how fans are ranked, how the top N are kept in bounded
// memory, and how an audit recomputes a market's verdicts from its rows and the revealed seed.
//
// Ranking of a market's candidates (documented in the README, "Selection"):
//   1. score, highest first; a row without a score ranks below every scored row (so without
//      scores every fan ties);
//   2. ties by drawKey = HMAC-SHA256(key = campaign seed, message = globalUserId), hex, ascending;
//   3. (never reached in practice) globalUserId ascending.
// The seed is 32 random bytes generated when the campaign closes; SHA-256(seed) is published then,
// the seed itself with the results. Nobody (operators included) can steer a tie-break before the
// close without breaking HMAC, and anyone can re-check it after.

export interface Candidate {
  globalUserId: string;
  score?: number | null;
  /** HMAC-SHA256(seed, globalUserId), hex. */
  drawKey: string;
}

export const generateSeed = (): string => randomBytes(32).toString('hex');

export const seedHashOf = (seed: string): string => createHash('sha256').update(seed, 'utf8').digest('hex');

export function drawKeyOf(seed: string, globalUserId: string): string {
  return createHmac('sha256', seed).update(globalUserId, 'utf8').digest('hex');
}

export function candidate(seed: string, row: { globalUserId: string; score?: number | null }): Candidate {
  const c: Candidate = { globalUserId: row.globalUserId, drawKey: drawKeyOf(seed, row.globalUserId) };
  if (typeof row.score === 'number' && Number.isFinite(row.score)) c.score = row.score;
  return c;
}

const hasScore = (c: Candidate): c is Candidate & { score: number } =>
  typeof c.score === 'number' && Number.isFinite(c.score);

/** Negative when `a` ranks before `b` (better), positive after, 0 only for the same fan. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  const sa = hasScore(a);
  const sb = hasScore(b);
  if (sa && sb && a.score !== b.score) return b.score - a.score;
  if (sa !== sb) return sa ? -1 : 1;
  if (a.drawKey !== b.drawKey) return a.drawKey < b.drawKey ? -1 : 1;
  if (a.globalUserId !== b.globalUserId) return a.globalUserId < b.globalUserId ? -1 : 1;
  return 0;
}

/**
 * How a row with `score` ranks against candidate `c` by score alone: negative before, positive
 * after, 0 when only the draw key can tell (equal scores, or neither scored). Agrees with
 * compareCandidates whenever it is not 0, so the planner computes a row's HMAC only for a tie.
 */
export function scoreOrder(score: number | null | undefined, c: Candidate): number {
  const sa = typeof score === 'number' && Number.isFinite(score);
  const sb = hasScore(c);
  if (sa && sb) return c.score - (score as number);
  if (sa !== sb) return sa ? -1 : 1;
  return 0;
}

/** Every candidate in rank order (for audits and tests; the planner streams through TopN). */
export function rank(candidates: readonly Candidate[]): Candidate[] {
  return [...candidates].sort(compareCandidates);
}

/**
 * The best `n` of a stream in O(n) memory: a binary heap whose root is the worst kept candidate,
 * replaced whenever a better one arrives. `ranked()` returns them best first.
 */
export class TopN {
  private readonly heap: Candidate[] = [];

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  }

  get size(): number {
    return this.heap.length;
  }

  /** The worst candidate kept once the heap is full (a newcomer must rank before it), else undefined. */
  get worst(): Candidate | undefined {
    return this.n > 0 && this.heap.length === this.n ? this.heap[0] : undefined;
  }

  /** Worse-than: the heap keeps the worst at the root. */
  private worse(i: number, j: number): boolean {
    return compareCandidates(this.heap[i]!, this.heap[j]!) > 0;
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    [h[i], h[j]] = [h[j]!, h[i]!];
  }

  offer(c: Candidate): void {
    if (this.n === 0) return;
    const h = this.heap;
    if (h.length < this.n) {
      h.push(c);
      let i = h.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.worse(i, parent)) break;
        this.swap(i, parent);
        i = parent;
      }
      return;
    }
    if (compareCandidates(c, h[0]!) >= 0) return;
    h[0] = c;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < h.length && this.worse(l, worst)) worst = l;
      if (r < h.length && this.worse(r, worst)) worst = r;
      if (worst === i) break;
      this.swap(i, worst);
      i = worst;
    }
  }

  ranked(): Candidate[] {
    return rank(this.heap);
  }
}

/** Pairs ranked winners with codes: unique codes in code order, or one shared code for all (TM). */
export function pairCodes(
  winners: readonly Candidate[],
  codes: { shared: string } | { unique: readonly string[] },
): Array<{ globalUserId: string; code: string }> {
  if ('shared' in codes) return winners.map((w) => ({ globalUserId: w.globalUserId, code: codes.shared }));
  const sorted = [...codes.unique].sort();
  if (sorted.length < winners.length)
    throw new RangeError(`${winners.length} winners need as many codes, got ${sorted.length}`);
  return winners.map((w, i) => ({ globalUserId: w.globalUserId, code: sorted[i]! }));
}

export interface AuditRow {
  globalUserId?: string;
  score?: number | null;
  verdict?: boolean;
  code?: string;
  selectedRunId?: string;
}

export interface AuditRun {
  runId: string;
  /** Winners the run selected (its PROCESSED). */
  winners: number;
}

export interface AuditReport {
  ok: boolean;
  rows: number;
  checked: number;
  mismatches: string[];
}

/**
 * Recomputes a market's verdicts: the candidates are ranked once with the seed; the runs, in
 * the order they ran, each take the next `winners` fans of the ranking (a second wave continues
 * where the first stopped). Every row must then hold exactly that verdict and run; codes of
 * winners must be distinct unless `sharedCode`.
 */
export function auditMarket(
  seed: string,
  rows: readonly AuditRow[],
  runs: readonly AuditRun[],
  options: { sharedCode?: boolean; maxMismatches?: number } = {},
): AuditReport {
  const max = options.maxMismatches ?? 50;
  const mismatches: string[] = [];
  const note = (m: string) => {
    if (mismatches.length < max) mismatches.push(m);
  };
  const valid = rows.filter((r): r is AuditRow & { globalUserId: string } => !!r.globalUserId);
  const ranked = rank(valid.map((r) => candidate(seed, r)));
  const expected = new Map<string, string>();
  let at = 0;
  for (const run of runs) {
    for (let i = 0; i < run.winners && at < ranked.length; i++, at++)
      expected.set(ranked[at]!.globalUserId, run.runId);
    if (at < run.winners) note(`run ${run.runId}: reports ${run.winners} winners, the ranking ran out`);
  }
  const decidedRuns = new Set(runs.map((r) => r.runId));
  const codes = new Map<string, string>();
  let checked = 0;
  for (const row of valid) {
    const wonIn = expected.get(row.globalUserId);
    if (wonIn) {
      checked++;
      if (row.verdict !== true || row.selectedRunId !== wonIn)
        note(
          `${row.globalUserId}: expected winner of run ${wonIn}, stored verdict ${row.verdict} (run ${row.selectedRunId ?? '-'})`,
        );
      else if (!row.code) note(`${row.globalUserId}: winner without a code`);
      else if (!options.sharedCode) {
        const other = codes.get(row.code);
        if (other) note(`code ${row.code} went to ${other} and ${row.globalUserId}`);
        codes.set(row.code, row.globalUserId);
      }
    } else if (row.selectedRunId !== undefined && decidedRuns.has(row.selectedRunId)) {
      checked++;
      if (row.verdict !== false || row.code !== undefined)
        note(
          `${row.globalUserId}: expected loser, stored verdict ${row.verdict}${row.code ? ` with code ${row.code}` : ''}`,
        );
    } else if (row.verdict === true) {
      note(
        `${row.globalUserId}: verdict true from run ${row.selectedRunId ?? '-'}, which no audited run selected`,
      );
    }
  }
  return { ok: mismatches.length === 0, rows: rows.length, checked, mismatches };
}
