import { type Collection, MongoBulkWriteError, MongoServerError } from 'mongodb';
import { RetriableError } from '../lib/errors.ts';
import { mongo } from '../lib/resources.ts';
import { defineResource } from '../runtime/resources.ts';
import type { SampleEvent } from '../schemas/types.generated.ts';

// The reference store for processors with effects outside Kafka: the latest version of each
// sample event's key. A write is conditional on its version (seq) being newer than the stored
// one, so it is idempotent and never goes backwards: a redelivered, replayed or late record
// changes nothing. FerretDB has no multi-document transactions; none is needed.

export type PutResult = 'written' | 'unchanged' | { error: unknown };

export interface SampleEventsStore {
  /** One result per event, in order. */
  putLatest(events: readonly SampleEvent[]): Promise<PutResult[]>;
  get(key: string): Promise<StoredSampleEvent | null>;
}

export interface StoredSampleEvent {
  _id: string;
  seq: number;
  eventId: string;
  payload: string;
}

const DUPLICATE_KEY = 11000;

export class MongoSampleEventsStore implements SampleEventsStore {
  constructor(private readonly collection: Collection<StoredSampleEvent>) {}

  async putLatest(events: readonly SampleEvent[]): Promise<PutResult[]> {
    if (events.length === 0) return [];
    const ops = events.map((e) => ({
      updateOne: {
        // Matches only an older version; when a newer (or the same) one is stored the upsert's
        // insert meets the _id and fails with a duplicate key: "unchanged", not an error.
        filter: { _id: e.key, seq: { $lt: e.seq } },
        update: { $set: { seq: e.seq, eventId: e.id, payload: e.payload } },
        upsert: true,
      },
    }));
    const results: PutResult[] = events.map(() => 'written');
    try {
      await this.collection.bulkWrite(ops, { ordered: false });
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw asRetriable(err);
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      for (const w of errors) {
        results[w.index] = w.code === DUPLICATE_KEY ? 'unchanged' : { error: asRetriable(w) };
      }
    }
    return results;
  }

  get(key: string): Promise<StoredSampleEvent | null> {
    return this.collection.findOne({ _id: key });
  }
}

function asRetriable(err: unknown): Error {
  if (err instanceof MongoServerError || err instanceof Error) {
    return new RetriableError(`sample events store: ${err.message}`, { cause: err });
  }
  return new RetriableError(`sample events store: ${JSON.stringify(err)}`);
}

export const sampleEventsStore = defineResource<SampleEventsStore>({
  name: 'sample-events-store',
  open: async ({ use }) => {
    const { db } = await use(mongo);
    return new MongoSampleEventsStore(db.collection<StoredSampleEvent>('sample_events'));
  },
});
