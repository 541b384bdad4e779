import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.ts';
import { waitFor } from '../../lib/retry.ts';
import { Header } from '../../runtime/headers.ts';
import {
  createEchoTopics,
  duplicatesOf,
  type EchoProcess,
  idsOf,
  kafka,
  produceEvents,
  produceEventsTransactionally,
  produceRaw,
  readTopic,
  sampleEvents,
  spawnEcho,
} from '../runtime-harness.ts';

// The processor runtime on the real broker and registry, with echo processors as child processes.

let admin: Admin;
const running: EchoProcess[] = [];
const start = (...args: Parameters<typeof spawnEcho>) => {
  const p = spawnEcho(...args);
  running.push(p);
  return p;
};

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await admin.disconnect();
});

/** Runs the regflow CLI as an operator would. */
function regflow(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'bin/regflow.js'), ...args],
      { cwd: REPO_ROOT },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];

describe('processor runtime', () => {
  it('(a) delivers every input exactly once and keeps per-key order across partitions and processes', async () => {
    const t = await createEchoTopics(admin, 6);
    const events = sampleEvents(600, 24);
    await produceEvents(t.input, events.slice(0, 300));
    const a = start(t);
    const b = start(t);
    await Promise.all([a.waitForEvent('started'), b.waitForEvent('started')]);
    await produceEvents(t.input, events.slice(300));

    const out = await readTopic(t.output, { atLeast: 600 });
    // A duplicate in the output must be the runtime's: the input holds each record once.
    expect(duplicatesOf(await readTopic(t.input, { atLeast: 600, settleMs: 0 }))).toEqual([]);
    expect(duplicatesOf(out)).toEqual([]);
    expect(idsOf(out)).toEqual(events.map((e) => e.id).sort());
    const byKey = new Map<string, number[]>();
    for (const r of [...out].sort(
      (x, y) => x.partition - y.partition || Number(x.offset) - Number(y.offset),
    )) {
      byKey.set(r.key!, [...(byKey.get(r.key!) ?? []), r.value!.seq]);
    }
    expect(byKey.size).toBe(24);
    for (const seqs of byKey.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(out.map((r) => r.partition)).size).toBeGreaterThan(1);

    // Each process serves health, readiness and metrics; between them they counted every record.
    let counted = 0;
    for (const p of [a, b]) {
      const { httpPort } = (await p.waitForEvent('started')) as { httpPort: number };
      const base = `http://127.0.0.1:${httpPort}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/regflow_consumer_lag\{/);
      expect(metrics).toMatch(/regflow_batch_duration_seconds_count\{/);
      counted += Number(
        new RegExp(`regflow_records_out_total\\{topic="${t.output}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0,
      );
    }
    expect(counted).toBe(600);
  });

  it('(b) loses and duplicates nothing when a processor is killed -9 between send and commit', async () => {
    const t = await createEchoTopics(admin, 3);
    const events = sampleEvents(300, 10);
    await produceEvents(t.input, events);
    const victim = start(t, { FIXTURE_FAULT: 'kill-before-commit:2' });
    await victim.waitForEvent('kill-before-commit');
    expect((await victim.exited).signal).toBe('SIGKILL');

    const successor = start(t);
    await successor.waitForEvent('started');
    const committed = await readTopic(t.output, { atLeast: 300 });
    expect(duplicatesOf(committed)).toEqual([]);
    expect(idsOf(committed)).toEqual(events.map((e) => e.id).sort());
    // The killed transaction's records did reach the log: only read-committed hides them.
    const everything = await readTopic(t.output, { atLeast: 301, uncommitted: true, timeoutMs: 10_000 });
    expect(everything.length).toBeGreaterThan(300);
  });

  it('(c) fences a zombie: a processor stopped past its session timeout cannot commit after it resumes', async () => {
    const t = await createEchoTopics(admin, 3);
    const events = sampleEvents(300, 10);
    await produceEvents(t.input, events);
    const zombie = start(t, { FIXTURE_FAULT: 'stop-before-commit:2' });
    await zombie.waitForEvent('stop-before-commit');
    const pid = zombie.child.pid!;
    expect(await waitFor(async () => procState(pid) === 'T', { timeoutMs: 5_000 })).toBe(true);

    const successor = start(t);
    await successor.waitForEvent('started');
    const before = await readTopic(t.output, { atLeast: 300, settleMs: 500 });
    expect(idsOf(before)).toEqual(events.map((e) => e.id).sort());

    zombie.child.kill('SIGCONT');
    expect(
      await waitFor(async () => /transaction aborted/.test(zombie.output()), { timeoutMs: 30_000 }),
    ).toBe(true);
    await produceEvents(
      t.input,
      sampleEvents(30, 10).map((e) => ({ ...e, id: `late-${e.id}` })),
    );
    const after = await readTopic(t.output, { atLeast: 330, settleMs: 3_000 });
    expect(duplicatesOf(after)).toEqual([]);
    expect(after).toHaveLength(330);
    expect(new Set(idsOf(after)).size).toBe(330);
  });

  it('(i) a member paused before its first transaction on a partition cannot commit from the offset it read', async () => {
    // kafkajs's connect() does not fence (its InitProducerId carries no transactional id; the one
    // that does goes out with the first transaction()). The runtime must fence when it opens a
    // partition, before it reads the committed offset. Otherwise this member, resumed after its
    // successor handled everything, fences the successor with its first transaction() and commits
    // its chunk again from the offset it read before: one duplicated chunk.
    const t = await createEchoTopics(admin, 1);
    const events = sampleEvents(300, 10);
    await produceEvents(t.input, events);
    const zombie = start(t, { FIXTURE_FAULT: 'stop-before-transaction:1', REGFLOW_LOG_LEVEL: 'debug' });
    await zombie.waitForEvent('stop-before-transaction');
    const pid = zombie.child.pid!;
    expect(await waitFor(async () => procState(pid) === 'T', { timeoutMs: 5_000 })).toBe(true);

    const successor = start(t);
    await successor.waitForEvent('started');
    const before = await readTopic(t.output, { atLeast: 300, settleMs: 500 });
    expect(duplicatesOf(before)).toEqual([]);

    zombie.child.kill('SIGCONT');
    // It goes on with the chunk it handled and the offset it read before the pause.
    expect(
      await waitFor(async () => /"msg":"transaction (committed|aborted)/.test(zombie.output()), {
        timeoutMs: 30_000,
      }),
    ).toBe(true);
    const after = await readTopic(t.output, { atLeast: 300, settleMs: 3_000 });
    expect(duplicatesOf(after)).toEqual([]);
    expect(idsOf(after)).toEqual(events.map((e) => e.id).sort());
  });

  it('(d) dead-letters a poison record after every attempt while the rest of its partition flows', async () => {
    const t = await createEchoTopics(admin, 2, [300, 600]);
    const events = sampleEvents(60, 1, (i) => (i === 10 ? 'poison' : i === 20 ? 'permanent' : 'ok'));
    await produceEvents(t.input, events);
    await produceRaw(t.input, [{ key: 'fan-0', value: Buffer.from('not avro at all') }]);
    start(t, { FIXTURE_TIERS: '300,600' });

    const out = await readTopic(t.output, { atLeast: 58 });
    expect(idsOf(out)).toEqual(
      events
        .filter((_, i) => i !== 10 && i !== 20)
        .map((e) => e.id)
        .sort(),
    );
    const dead = await readTopic(t.dlt, { atLeast: 3 });
    expect(dead).toHaveLength(3);
    const poison = dead.find((r) => r.value?.id === 'e-10')!;
    const permanent = dead.find((r) => r.value?.id === 'e-20')!;
    const garbage = dead.find((r) => r.value === null)!;

    expect(poison.key).toBe('fan-0');
    expect(poison.headers).toMatchObject({
      [Header.ORIGINAL_TOPIC]: t.input,
      [Header.ORIGINAL_OFFSET]: '10',
      [Header.ORIGINAL_CONSUMER_GROUP]: t.group,
      [Header.ATTEMPTS]: '9',
      [Header.EXCEPTION_FQCN]: 'RetriableError',
    });
    expect(poison.headers[Header.ORIGINAL_PARTITION]).toMatch(/^[01]$/);
    expect(poison.headers[Header.EXCEPTION_MESSAGE]).toContain('poison');
    expect(permanent.headers).toMatchObject({
      [Header.ATTEMPTS]: '1',
      [Header.EXCEPTION_FQCN]: 'PermanentError',
    });
    expect(garbage.raw?.toString()).toBe('not avro at all');
    expect(garbage.headers[Header.EXCEPTION_FQCN]).toBe('DecodeError');

    // Records behind the poison in its partition were forwarded before the poison reached the DLT.
    const after = out.find((r) => r.value?.id === 'e-11')!;
    expect(after.timestamp).toBeLessThan(poison.timestamp);
    const tier1 = await readTopic(t.retries[0]!, { atLeast: 1, settleMs: 200 });
    expect(tier1.map((r) => r.value?.id)).toEqual(['e-10']);
  });

  it('(e) forwards a record that fails transiently exactly once and records its attempts', async () => {
    const t = await createEchoTopics(admin, 2, [300]);
    const events = sampleEvents(20, 4, (i) => (i === 3 ? 'transient:2' : i === 7 ? 'transient:4' : 'ok'));
    await produceEvents(t.input, events);
    start(t, { FIXTURE_TIERS: '300' });

    const out = await readTopic(t.output, { atLeast: 20 });
    expect(idsOf(out)).toEqual(events.map((e) => e.id).sort());
    const attemptsOf = (id: string) => out.find((r) => r.value?.id === id)?.headers[Header.ATTEMPTS];
    expect(attemptsOf('e-3')).toBe('3');
    expect(attemptsOf('e-7')).toBe('5');
    expect(attemptsOf('e-0')).toBeUndefined(); // first-try success carries no attempts header
    const tier1 = await readTopic(t.retries[0]!, { atLeast: 1, settleMs: 200 });
    expect(tier1.map((r) => r.value?.id)).toEqual(['e-7']);
  });

  it('(h) flows through inputs and retry tiers written in transactions (commit markers between records)', async () => {
    const t = await createEchoTopics(admin, 1, [300]);
    const first = sampleEvents(10, 2, (i) => (i === 4 ? 'transient:4' : 'ok'));
    const second = sampleEvents(10, 2, (i) => (i === 4 ? 'transient:4' : 'ok')).map((e) => ({
      ...e,
      id: `second-${e.id}`,
    }));
    await produceEventsTransactionally(t.input, [first.slice(0, 5), first.slice(5)]);
    start(t, { FIXTURE_TIERS: '300' });
    await readTopic(t.output, { atLeast: 10, settleMs: 0 });
    // The second transient record reaches retry-1 in a later transaction than the first one.
    await produceEventsTransactionally(t.input, [second.slice(0, 5), second.slice(5)]);

    const out = await readTopic(t.output, { atLeast: 20 });
    expect(idsOf(out)).toEqual([...first, ...second].map((e) => e.id).sort());
    const tier1 = await readTopic(t.retries[0]!, { atLeast: 2, settleMs: 200 });
    expect(tier1.map((r) => r.value?.id).sort()).toEqual(['e-4', 'second-e-4']);
    const [committed] = await admin.fetchOffsets({ groupId: t.group, topics: [t.input, t.retries[0]!] });
    const ends = await admin.fetchTopicOffsets(t.input);
    expect(committed!.partitions[0]!.offset).toBe(ends[0]!.high); // committed past the last marker
  });

  it('(f) replays a stopped group from the earliest offset, and refuses while the group is live', async () => {
    const t = await createEchoTopics(admin, 3);
    const events = sampleEvents(60, 6);
    await produceEvents(t.input, events);
    const first = start(t);
    await first.waitForEvent('started');
    expect(idsOf(await readTopic(t.output, { atLeast: 60, settleMs: 500 }))).toEqual(
      events.map((e) => e.id).sort(),
    );

    const replay = ['replay', t.group, '--to-earliest', '--topic', t.input];
    const live = await regflow([...replay, '--execute']);
    expect(live.code).toBe(1);
    expect(live.stderr).toMatch(/live member/);

    await first.stop();
    const plan = await regflow(replay);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/dry run/);
    const [committed] = await admin.fetchOffsets({ groupId: t.group, topics: [t.input] });
    expect(committed!.partitions.reduce((sum, p) => sum + Number(p.offset), 0)).toBe(60); // the dry run changed nothing

    const applied = await regflow([...replay, '--execute']);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/reset 3 partitions/);
    const [reset] = await admin.fetchOffsets({ groupId: t.group, topics: [t.input] });
    expect(reset!.partitions.map((p) => p.offset)).toEqual(['0', '0', '0']);

    start(t);
    const out = await readTopic(t.output, { atLeast: 120 });
    expect(idsOf(out)).toEqual(events.flatMap((e) => [e.id, e.id]).sort());
  });

  it('(g) refuses to start when its output schema is incompatible with the registered one', async () => {
    const t = await createEchoTopics(admin, 1, [], { registerOutput: false });
    const incompatible = { type: 'record', name: 'Other', fields: [{ name: 'n', type: 'int' }] };
    const { Codec } = await import('../../runtime/codec.ts');
    const { createSchemaRegistry } = await import('../../lib/clients.ts');
    const { config } = await import('../support.ts');
    await new Codec(createSchemaRegistry(config.schemaRegistry)).register(t.output, incompatible);

    const p = start(t);
    const failed = await p.waitForEvent('failed').catch(() => null);
    expect((await p.exited).code).toBe(1);
    expect(failed ?? p.output()).toBeTruthy();
    expect(p.output()).toMatch(new RegExp(`schema for ${t.output}-value refused by the registry`));
  });
});
