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
