import { describe, expect, it } from 'vitest';
import { PermanentError, RetriableError } from '../../lib/errors.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { SampleEvent } from '../../schemas/types.generated.ts';
import type { PutResult, SampleEventsStore, StoredSampleEvent } from '../../stores/sample-events.ts';
import { sampleStoreHandler } from './handler.ts';

/** The store's rule in memory: a version is written only over an older one. */
class MemoryStore implements SampleEventsStore {
  readonly docs = new Map<string, StoredSampleEvent>();
  failKey: string | null = null;
  async putLatest(events: readonly SampleEvent[]): Promise<PutResult[]> {
    return events.map((e) => {
      if (e.key === this.failKey) return { error: new RetriableError('timeout') };
      const current = this.docs.get(e.key);
      if (current && current.seq >= e.seq) return 'unchanged';
      this.docs.set(e.key, { _id: e.key, seq: e.seq, eventId: e.id, payload: e.payload });
      return 'written';
    });
  }
  async get(key: string) {
    return this.docs.get(key) ?? null;
  }
}

const record = (key: string, seq: number, behavior = 'ok', offset = seq): InputRecord<SampleEvent> => ({
  topic: 'sample.events',
  partition: 0,
  offset: String(offset),
  key,
  value: { id: `${key}-${seq}`, key, seq, payload: `p${seq}`, behavior, producedAt: 0 },
  headers: {},
  timestamp: '0',
  attempt: 1,
});

const ctxWith = (samples: SampleEventsStore) => ({
  processor: 'sample-store',
  log: { info() {}, warn() {} },
  resources: { samples },
});

describe('sample-store handler', () => {
  it('stores the newest version of each key and forwards every record', async () => {
    const store = new MemoryStore();
    const out = await sampleStoreHandler('out')(
      [record('a', 1), record('a', 2), record('b', 1)],
      ctxWith(store),
    );
    expect(out.every((o) => 'outputs' in o && o.outputs.length === 1)).toBe(true);
    expect((await store.get('a'))?.seq).toBe(2);
  });

  it('changes nothing when a batch comes again or an older version arrives late', async () => {
    const store = new MemoryStore();
    const handler = sampleStoreHandler('out');
    await handler([record('a', 2)], ctxWith(store));
    const again = await handler([record('a', 2), record('a', 1, 'ok', 9)], ctxWith(store));
    expect(again.every((o) => 'outputs' in o)).toBe(true);
    expect(await store.get('a')).toMatchObject({ seq: 2, eventId: 'a-2' });
  });

  it('fails only the record the store could not write, and refuses a permanent one before writing', async () => {
    const store = new MemoryStore();
    store.failKey = 'b';
    const out = await sampleStoreHandler('out')(
      [record('a', 1), record('b', 1), record('c', 1, 'permanent')],
      ctxWith(store),
    );
    expect('outputs' in out[0]!).toBe(true);
    expect('error' in out[1]! && out[1].error).toBeInstanceOf(RetriableError);
    expect('error' in out[2]! && out[2].error).toBeInstanceOf(PermanentError);
    expect(store.docs.has('c')).toBe(false);
  });
});
