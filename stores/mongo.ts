import { type Collection, type Document, type IndexSpecification, MongoServerError } from 'mongodb';
import { RetriableError } from '../lib/errors.ts';

// Shared pieces of the MongoDB stores. FerretDB (the local server) has no multi-document
// transactions, and its bulkWrite stops at the first failed write even when unordered, so the
// stores use single-document conditional writes (a guard in the filter, upsert + unique key) and
// send batches as parallel single writes.

export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000;
}

/** Creates indexes if missing; creating an identical index again is a no-op, so this runs at every start. */
export async function ensureIndexes<T extends Document>(
  collection: Collection<T>,
  indexes: ReadonlyArray<{ key: IndexSpecification; name: string; unique?: boolean }>,
): Promise<void> {
  for (const index of indexes) {
    try {
      await collection.createIndex(index.key, { name: index.name, unique: index.unique ?? false });
    } catch (err) {
      throw new RetriableError(`creating index ${index.name} on ${collection.collectionName} failed`, {
        cause: err,
      });
    }
  }
}

/** Outcome of a guarded write: applied, or skipped because the store already holds a newer version. */
export type GuardedOutcome = 'applied' | 'stale';

/**
 * Writes a document that may be new, cheaply on FerretDB. Upstream FerretDB 1.24 (SQLite) serves a
 * filter from its `_id` index only when the filter is `_id` alone, and even then scanned (see
 * infra/services/ferretdb.ts, whose patched build serves any filter with an `_id` equality from the
 * index); unpatched, a guarded upsert of a new document scans the whole collection (measured: 518 ms
 * per new document in 10,000, against 4 ms for insertOne). So: insert first (a new document, the
 * common case, costs one keyed write); a duplicate key means the document exists, and it gets the
 * atomic guarded write, which real MongoDB and the patched FerretDB serve by the `_id` index.
 */
export async function insertOrGuarded<T = GuardedOutcome>(
  insert: () => Promise<unknown>,
  guarded: () => Promise<T>,
  inserted: T = 'applied' as T,
): Promise<T> {
  try {
    await insert();
    return inserted;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
  return guarded();
}
