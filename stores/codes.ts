import type { Collection, Db } from 'mongodb';
import { isRetriable, PermanentError, ValidationError } from '../lib/errors.ts';
import { createRetry } from '../lib/retry.ts';
import { ensureIndexes, isDuplicateKey } from './mongo.ts';

// The code store (the spec's Code Service): pools of access codes per (campaign, market).
//
// A code is one document `_id = campaign:market:code` that only moves forward:
//   available → reserved (by one run) → assigned (to one fan; a shared TM code to many).
// FerretDB has no multi-document transactions, and on its SQLite backend a conditional update
// (`{_id, status: 'available'}`) is not atomic under concurrent writers: two reservers can both see
// "modified" (measured by test/integration/codes.test.ts). So the lock is a unique key: a reserver
// first inserts a claim `{_id: codeId, runId}` into `code_claims`; the primary key lets exactly one
// insert win, and only the winner then marks the code reserved. A run's reservation is idempotent:
// the claims it holds count first and come back again. Release deletes the run's claims after
// marking their codes available again (a crash in between is repaired by releasing again).
// Imports validate the whole file before writing, then insert idempotently (keyed by code).

export type CodeStatus = 'available' | 'reserved' | 'assigned';

export interface CodeDoc {
  _id: string;
  campaignId: string;
  marketId: string;
  code: string;
  status: CodeStatus;
  runId?: string;
  assignedTo?: string;
  importedAt: string;
  reservedAt?: string;
  assignedAt?: string;
  /** The shared code of a TM-ticketer market: assigned to every winner. */
  shared?: boolean;
}

export interface PoolCounts {
  campaignId: string;
  marketId: string;
  available: number;
  reserved: number;
  assigned: number;
  total: number;
}

export const CODE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface ParsedCodes {
  codes: string[];
}

/**
 * Parses a code file: one code per line, or a CSV with a `code` header and one column. Every bad
 * line is reported (line number, why); a file with any error is refused whole.
 */
export function parseCodeFile(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  // A final newline is not an empty line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const errors: string[] = [];
  const seen = new Map<string, number>();
  const codes: string[] = [];
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (n === 1 && line.toLowerCase() === 'code') return;
    if (line === '') {
      errors.push(`line ${n}: empty line`);
      return;
    }
    const columns = line.split(',');
    if (columns.length !== 1) {
      errors.push(`line ${n}: expected 1 column (code), got ${columns.length}`);
      return;
    }
    const code = columns[0]!.trim().replace(/^"(.*)"$/, '$1');
    if (!CODE_PATTERN.test(code)) {
      errors.push(`line ${n}: code ${JSON.stringify(code)} must be 1 to 64 letters, digits, _ or -`);
      return;
    }
    const first = seen.get(code);
    if (first !== undefined) {
      errors.push(`line ${n}: duplicate code ${code} (first on line ${first})`);
      return;
    }
    seen.set(code, n);
    codes.push(code);
  });
  if (errors.length > 0) {
    const shown = errors.slice(0, 20).join('; ');
    throw new ValidationError(
      'file',
      `${errors.length} bad line(s), nothing imported: ${shown}${errors.length > 20 ? '; …' : ''}`,
    );
  }
  if (codes.length === 0) throw new ValidationError('file', 'no codes in the file, nothing imported');
  return codes;
}

/** FerretDB on SQLite answers SQLITE_BUSY to concurrent writers: a conflict worth retrying. */
export function isBusy(err: unknown): boolean {
  return err instanceof Error && /SQLITE_BUSY|database is locked/.test(err.message);
}

/** Retries a single-document write that met SQLITE_BUSY (or any retriable error). */
export const writeRetry = createRetry({
  attempts: 10,
  initialDelayMs: 5,
  maxDelayMs: 500,
  shouldRetry: (err) => isBusy(err) || isRetriable(err),
});

export async function retried<T>(fn: () => Promise<T>): Promise<T> {
  return (await writeRetry(fn)).value;
}

const codeId = (campaignId: string, marketId: string, code: string) => `${campaignId}:${marketId}:${code}`;

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

interface ClaimDoc {
  _id: string;
  campaignId: string;
  marketId: string;
  code: string;
  runId: string;
  claimedAt: string;
}

export class MongoCodeStore {
  readonly codes: Collection<CodeDoc>;
  readonly claims: Collection<ClaimDoc>;

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.codes = db.collection<CodeDoc>('codes');
    this.claims = db.collection<ClaimDoc>('code_claims');
  }

  async init(): Promise<void> {
    await ensureIndexes(this.codes, [
      { key: { campaignId: 1, marketId: 1, status: 1, code: 1 }, name: 'pool_status_code' },
      { key: { campaignId: 1, marketId: 1, runId: 1 }, name: 'pool_run' },
    ]);
    await ensureIndexes(this.claims, [{ key: { campaignId: 1, marketId: 1, runId: 1 }, name: 'pool_run' }]);
  }

  /**
   * Imports codes into a pool (validated first by parseCodeFile). Idempotent: a code already in the
   * pool is left as it is (whatever its state). Returns how many were new.
   */
  async importCodes(
    campaignId: string,
    marketId: string,
    codes: readonly string[],
  ): Promise<{ added: number }> {
    const importedAt = this.now().toISOString();
    const added = await mapLimit(codes, 32, async (code) => {
      try {
        const r = await retried(() =>
          this.codes.updateOne(
            { _id: codeId(campaignId, marketId, code) },
            { $setOnInsert: { campaignId, marketId, code, status: 'available' as const, importedAt } },
            { upsert: true },
          ),
        );
        return r.upsertedCount;
      } catch (err) {
        if (isDuplicateKey(err)) return 0;
        throw err;
      }
    });
    return { added: added.reduce((a, b) => a + b, 0) };
  }

  async counts(campaignId: string, marketId?: string): Promise<PoolCounts[]> {
    const filter: Record<string, unknown> = { campaignId };
    if (marketId) filter.marketId = marketId;
    const docs = await this.codes.find(filter, { projection: { marketId: 1, status: 1 } }).toArray();
    const pools = new Map<string, PoolCounts>();
    for (const d of docs) {
      let p = pools.get(d.marketId);
      if (!p) {
        p = { campaignId, marketId: d.marketId, available: 0, reserved: 0, assigned: 0, total: 0 };
        pools.set(d.marketId, p);
      }
      p[d.status]++;
      p.total++;
    }
    return [...pools.values()].sort((a, b) => a.marketId.localeCompare(b.marketId));
  }

  /** Codes a run holds (claimed: reserved or already assigned), sorted by code. */
  async heldBy(campaignId: string, marketId: string, runId: string): Promise<string[]> {
    const docs = await this.claims
      .find({ campaignId, marketId, runId }, { projection: { code: 1 } })
      .toArray();
    return docs.map((d) => d.code).sort();
  }

  /** Claims one code for a run: true when this run holds it (now or before), false when another does. */
  private async claim(campaignId: string, marketId: string, code: string, runId: string, at: string) {
    const _id = codeId(campaignId, marketId, code);
    try {
      await retried(() => this.claims.insertOne({ _id, campaignId, marketId, code, runId, claimedAt: at }));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const holder = await this.claims.findOne({ _id }, { projection: { runId: 1 } });
      if (holder?.runId !== runId) return false;
    }
    // Only the claim's holder writes the code's state: no concurrent writer to race with. The
    // guard is read by _id and the write goes by _id alone: FerretDB serves only an `_id`-only
    // filter from its key (`{_id, status}` scanned the pool on every claim: 10,000 claims took
    // O(pool²), most of a 1,000,000-row draw).
    const doc = await retried(() => this.codes.findOne({ _id }, { projection: { status: 1 } }));
    if (doc?.status === 'available')
      await retried(() =>
        this.codes.updateOne({ _id }, { $set: { status: 'reserved', runId, reservedAt: at } }),
      );
    return true;
  }

  /**
   * Reserves `n` codes for `runId`; idempotent (codes the run holds count first and come back
   * again) and safe under concurrent reservers (a unique claim per code). Returns every code the
   * run holds, sorted; fewer than `n` when the pool ran out (the caller then releases).
   */
  async reserve(campaignId: string, marketId: string, n: number, runId: string): Promise<string[]> {
    const held = new Set(await this.heldBy(campaignId, marketId, runId));
    const at = this.now().toISOString();
    while (held.size < n) {
      const missing = n - held.size;
      const candidates = await this.codes
        .find({ campaignId, marketId, status: 'available' }, { projection: { code: 1 } })
        .sort({ code: 1 })
        .limit(missing * 2 + 16)
        .toArray();
      if (candidates.length === 0) break;
      // Concurrent reservers read the same first page: shuffle so they mostly try different codes.
      for (let i = candidates.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
      }
      let won = 0;
      for (let i = 0; i < candidates.length && held.size < n; i += 8) {
        const slice = candidates.slice(i, i + Math.min(8, n - held.size));
        const results = await Promise.all(
          slice.map((c) =>
            this.claim(campaignId, marketId, c.code, runId, at).then((ok) => (ok ? c.code : undefined)),
          ),
        );
        for (const code of results) {
          if (code !== undefined && !held.has(code)) {
            held.add(code);
            won++;
          }
        }
      }
      if (won === 0 && candidates.length < missing) break;
    }
    return [...held].sort();
  }

  /**
   * Returns the codes `runId` holds but has not assigned to the pool, except `keep`. Idempotent: a
   * crash between a code's two writes is repaired by releasing again.
   */
  async release(
    campaignId: string,
    marketId: string,
    runId: string,
    keep: readonly string[] = [],
  ): Promise<number> {
    const kept = new Set(keep);
    const claims = await this.claims.find({ campaignId, marketId, runId }).toArray();
    const released = await mapLimit(claims, 8, async (c) => {
      if (kept.has(c.code)) return 0;
      const doc = await this.codes.findOne({ _id: c._id }, { projection: { status: 1, runId: 1 } });
      if (doc?.status === 'assigned') return 0;
      // Read by _id, written by _id alone (see claim): only this run's claim holder writes it.
      let modified = 0;
      if (doc?.status === 'reserved' && doc.runId === runId) {
        const r = await retried(() =>
          this.codes.updateOne(
            { _id: c._id },
            { $set: { status: 'available' }, $unset: { runId: '', reservedAt: '' } },
          ),
        );
        modified = r.modifiedCount;
      }
      // The claim was listed by runId: this run's, deleted by _id alone.
      await retried(() => this.claims.deleteOne({ _id: c._id }));
      return modified;
    });
    return released.reduce((a, b) => a + b, 0);
  }

  /**
   * The shared code of a TM-ticketer market: the pool's first code by value, whatever its state,
   * flagged `shared` (idempotent) so assignments to many fans are expected.
   */
  async sharedCode(campaignId: string, marketId: string): Promise<string | undefined> {
    const doc = await this.codes.find({ campaignId, marketId }).sort({ code: 1 }).limit(1).next();
    if (!doc) return undefined;
    await retried(() => this.codes.updateOne({ _id: doc._id }, { $set: { shared: true } }));
    return doc.code;
  }

  /**
   * Marks a code assigned to a fan. Idempotent: assigning it again to the same fan is a no-op; a
   * shared code (TM) may be assigned to many. A unique code already assigned to another fan is a
   * PermanentError (something upstream paired one code twice), never an overwrite.
   */
  async assign(
    campaignId: string,
    marketId: string,
    code: string,
    globalUserId: string,
    options: { shared?: boolean } = {},
  ): Promise<'assigned' | 'unchanged'> {
    const _id = codeId(campaignId, marketId, code);
    const assignedAt = this.now().toISOString();
    const shared =
      options.shared ?? (await this.codes.findOne({ _id }, { projection: { shared: 1 } }))?.shared === true;
    if (shared) {
      const r = await retried(() =>
        this.codes.updateOne(
          { _id, status: { $ne: 'assigned' } },
          { $set: { status: 'assigned', assignedAt, shared: true } },
        ),
      );
      if (r.modifiedCount === 1) return 'assigned';
      if (await this.codes.findOne({ _id })) return 'unchanged';
      throw new PermanentError(`code ${code} is not in the pool of ${campaignId}/${marketId}`);
    }
    // A unique code has one winner, whose changes one partition handles in order, and the run
    // holding its claim no longer releases it once paired: no concurrent writer, so read and
    // write by _id alone (upstream FerretDB scans the pool for any other filter).
    const doc = await this.codes.findOne({ _id });
    if (!doc) throw new PermanentError(`code ${code} is not in the pool of ${campaignId}/${marketId}`);
    if (doc.status === 'reserved') {
      await retried(() =>
        this.codes.updateOne({ _id }, { $set: { status: 'assigned', assignedTo: globalUserId, assignedAt } }),
      );
      return 'assigned';
    }
    if (doc.status === 'assigned' && doc.assignedTo === globalUserId) return 'unchanged';
    if (doc.status === 'assigned')
      throw new PermanentError(
        `code ${code} of ${campaignId}/${marketId} is already assigned to another fan`,
      );
    throw new PermanentError(`code ${code} of ${campaignId}/${marketId} is ${doc.status}, not reserved`);
  }
}
