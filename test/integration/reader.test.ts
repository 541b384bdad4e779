import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEchoTopics,
  duplicatesOf,
  kafka,
  produceEventsTransactionally,
  readTopicDetailed,
  sampleEvents,
} from '../runtime-harness.ts';

// The tests' reader is a kafkajs consumer group. When its member expires or rejoins with records
// delivered but not yet committed, kafkajs delivers them again from the group's committed offset:
// the same records at the same positions. Kept in a plain array they once looked like a duplicated
// chunk of 50 in runtime test (a). The reader keeps each position once and counts the rest.

let admin: Admin;
beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin.disconnect();
});

describe('test reader', () => {
  it('keeps each record once when its own consumer re-delivers a batch after its member expired', async () => {
    const t = await createEchoTopics(admin, 1);
    const events = sampleEvents(200, 4);
    await produceEventsTransactionally(
      t.output,
      [0, 1, 2, 3].map((i) => events.slice(i * 50, i * 50 + 50)),
    );
    let slowed = false;
    const read = await readTopicDetailed(t.output, {
      atLeast: 200,
      settleMs: 15_000,
      sessionTimeoutMs: 6_000,
      // The last record of the fetched batch outlasts the session: kafkajs's next heartbeat meets
      // UNKNOWN_MEMBER_ID, the batch was never committed, and the rejoined member starts over.
      onRecord: async (r) => {
        if (r.value?.id !== 'e-199' || slowed) return;
        slowed = true;
        await new Promise((resolve) => setTimeout(resolve, 9_000));
      },
    });
    expect(read.joins).toBeGreaterThanOrEqual(2);
    expect(read.redeliveries).toBeGreaterThan(0);
    expect(read.records).toHaveLength(200);
    expect(duplicatesOf(read.records)).toEqual([]);
  }, 60_000);
});
