import type { Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../lib/retry.ts';
import {
  createEchoTopics,
  duplicatesOf,
  type EchoProcess,
  type EchoTopics,
  idsOf,
  kafka,
  produceEvents,
  readTopicDetailed,
  sampleEvents,
  spawnEcho,
} from '../runtime-harness.ts';

// A rebalance storm: 50,000 records flow through three to four echo processes while, every 2-5 s,
// a member joins (a new process) or leaves (SIGTERM, or kill -9 in the middle of whatever it is
// doing). Read committed, the output must equal the input as a multiset, and per key the records
// must come out in input order. All records succeed on the first attempt (no retries, no retry
// tiers), so any duplicate or reordering is the runtime's.

const RECORDS = 50_000;
const KEYS = 200;
const PARTITIONS = 6;
/** How long members keep joining and leaving at most; afterwards the survivors finish the work. */
const STORM_MS = 75_000;

type Action = 'start' | 'kill' | 'term';
/** Starting from three members, this cycle keeps three or four alive and uses every way of leaving. */
const CYCLE: Action[] = ['start', 'kill', 'start', 'term'];

let admin: Admin;
const members: EchoProcess[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterEach(async () => {
  await Promise.all(members.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await admin.disconnect();
});

const alive = () => members.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rebalance storm', () => {
  it('keeps exactly-once and per-key order while members join, stop and are killed every few seconds', async () => {
    const t = await createEchoTopics(admin, PARTITIONS);
    const events = sampleEvents(RECORDS, KEYS);
    const produce = async (from: number, to: number) => {
      for (let at = from; at < to; at += 5_000)
        await produceEvents(t.input, events.slice(at, Math.min(to, at + 5_000)));
    };
    await produce(0, RECORDS / 2);

    const start = (t: EchoTopics) => {
      const p = spawnEcho(t);
      members.push(p);
      return p;
    };
    const first = [start(t), start(t), start(t)];
    await Promise.all(first.map((p) => p.waitForEvent('started')));

    let finished = false;
    const reading = readTopicDetailed(t.output, {
      atLeast: RECORDS,
      settleMs: 3_000,
      timeoutMs: 170_000,
    }).finally(() => {
      finished = true;
    });
    // The second half arrives during the storm.
    const producing = produce(RECORDS / 2, RECORDS);

    const done: Record<string, number> = { start: 0, kill: 0, term: 0 };
    const began = Date.now();
    for (let step = 0; !finished && Date.now() - began < STORM_MS; step++) {
      await pause(2_000 + Math.random() * 3_000);
      if (finished) break;
      const action = CYCLE[step % CYCLE.length]!;
      const live = alive();
      if (action === 'start' || live.length <= 2) {
        start(t);
        done.start!++;
      } else {
        // The oldest member leaves: it holds partitions and has been working longest.
        const leaving = live[0]!;
        leaving.child.kill(action === 'kill' ? 'SIGKILL' : 'SIGTERM');
        done[action]!++;
      }
    }
    await producing;
    const read = await reading;
    const out = read.records;

    // The storm did happen: members joined and left by each way.
    expect(done.start).toBeGreaterThanOrEqual(3);
    expect(done.kill).toBeGreaterThanOrEqual(1);
    expect(done.term).toBeGreaterThanOrEqual(1);

    // Exactly once: nothing written twice, nothing lost.
    expect(duplicatesOf(out)).toEqual([]);
    expect(out).toHaveLength(RECORDS);
    expect(idsOf(out)).toEqual(events.map((e) => e.id).sort());

    // Per key, in the order of its output partition, the sequence numbers rise one by one.
    const seqs = new Map<string, number[]>();
    const sorted = [...out].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
    for (const r of sorted) seqs.set(r.key!, [...(seqs.get(r.key!) ?? []), r.value!.seq]);
    expect(seqs.size).toBe(KEYS);
    for (const [key, s] of seqs) {
      expect(s, `order of ${key}`).toEqual(Array.from({ length: s.length }, (_, i) => i + 1));
    }

    // And the group committed exactly up to the end of every input partition.
    const ends = await admin.fetchTopicOffsets(t.input);
    const committedAll = await waitFor(
      async () => {
        const [c] = await admin.fetchOffsets({ groupId: t.group, topics: [t.input] });
        return ends.every((e) => c!.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(committedAll).toBe(true);
    process.stdout.write(
      `STORM ${JSON.stringify({ ...done, seconds: Math.round((Date.now() - began) / 1000), readerRedeliveries: read.redeliveries })}\n`,
    );
  }, 240_000);
});
