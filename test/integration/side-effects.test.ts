import type { Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMongo } from '../../lib/clients.ts';
import type { StoredSampleEvent } from '../../stores/sample-events.ts';
import {
  createEchoTopics,
  type EchoProcess,
  idsOf,
  kafka,
  produceEvents,
  readTopic,
  sampleEvents,
  spawnEcho,
} from '../runtime-harness.ts';
import { config, uniqueName } from '../support.ts';

// A processor with an effect outside Kafka (sample-store: a conditional, versioned upsert into
// MongoDB per record, in batches of 25) killed -9 after its effect and before its commit.

const mongo = createMongo(config.mongodb);
const databases: string[] = [];
let admin: Admin;
const running: EchoProcess[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await Promise.all([admin.connect(), mongo.connect()]);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  for (const db of databases)
    await mongo
      .db(db)
      .dropDatabase()
      .catch(() => {});
  await Promise.all([admin.disconnect(), mongo.close()]);
});

/** A database of the test's own, on the configured server. */
function ownDatabase(): { name: string; url: string } {
  const name = uniqueName('effects').replace(/-/g, '_');
  databases.push(name);
  const url = new URL(config.mongodb.url.replace(/^mongodb:/, 'http:'));
  url.pathname = `/${name}`;
  return { name, url: url.toString().replace(/^http:/, 'mongodb:') };
}

describe('a processor with effects outside Kafka', () => {
  it('is exactly-once in effect when killed -9 after its effect and before its commit', async () => {
    const t = await createEchoTopics(admin, 3);
    const db = ownDatabase();
    const stored = () => mongo.db(db.name).collection<StoredSampleEvent>('sample_events');
    const env = { FIXTURE_PROCESSOR: 'sample-store', REGFLOW_MONGODB_URL: db.url };
    // 20 keys, 20 versions (seq 1..20) each: each key's versions land on one partition, in order.
    const events = sampleEvents(400, 20);
    await produceEvents(t.input, events);

    const victim = spawnEcho(t, { ...env, FIXTURE_FAULT: 'kill-before-commit:3' });
    running.push(victim);
    await victim.waitForEvent('kill-before-commit');
    expect((await victim.exited).signal).toBe('SIGKILL');

    // The third transaction's effects reached the store, its outputs and offsets did not commit.
    const committedBefore = await readTopic(t.output, { atLeast: 0, settleMs: 1_000 });
    const appliedBefore = (await stored().find().toArray()).reduce((n, d) => n + d.seq, 0);
    expect(appliedBefore).toBeGreaterThan(committedBefore.length);

    const successor = spawnEcho(t, env);
    running.push(successor);
    await successor.waitForEvent('started');
    const outputs = await readTopic(t.output, { atLeast: 400 });
    expect(idsOf(outputs)).toEqual(events.map((e) => e.id).sort());

    // Every key holds its newest version, once.
    const docs = await stored().find().sort({ _id: 1 }).toArray();
    expect(docs).toHaveLength(20);
    expect(docs.every((d) => d.seq === 20)).toBe(true);

    // A late, older version of a key changes nothing in the store (and still flows through).
    const [late] = sampleEvents(1, 1).map((e) => ({ ...e, id: 'late', key: 'fan-3', seq: 5 }));
    await produceEvents(t.input, [late!]);
    const withLate = await readTopic(t.output, { atLeast: 401 });
    expect(withLate.filter((r) => r.value?.id === 'late')).toHaveLength(1);
    expect(await stored().findOne({ _id: 'fan-3' })).toMatchObject({ seq: 20, eventId: 'e-383' });
  });
});
