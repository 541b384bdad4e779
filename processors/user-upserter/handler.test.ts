import { describe, expect, it } from 'vitest';
import { RetriableError } from '../../lib/errors.ts';
import { PendingOutcomes } from '../../runtime/metrics.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { UserProfile } from '../../schemas/types.generated.ts';
import { MemoryUserStore } from '../../stores/memory.ts';
import { userUpserterHandler } from './handler.ts';

const profile = (gid: string, version: number, email = `${gid}@example.test`): InputRecord<UserProfile> => ({
  topic: 'users.upserts',
  partition: 0,
  offset: String(version),
  key: gid,
  headers: {},
  timestamp: '0',
  attempt: 1,
  value: {
    globalUserId: gid,
    email,
    firstName: 'Ada',
    lastName: null,
    phone: null,
    postalCode: '10001',
    locale: 'en-US',
    marketing: { emailOptIn: false, smsOptIn: true },
    version,
    updatedAt: new Date(version).toISOString(),
    sourceRecordId: `r${version}`,
  },
});

const ctxWith = (users: MemoryUserStore) => ({
  processor: 'user-upserter',
  log: { info() {}, warn() {} },
  resources: { users },
});

describe('user-upserter', () => {
  it('counts the profiles it applied and those the store already had (a replay)', async () => {
    const users = new MemoryUserStore();
    const counts = new PendingOutcomes();
    const handle = userUpserterHandler();
    await handle([profile('u1', 1), profile('u2', 1)], { ...ctxWith(users), metrics: counts });
    expect(Object.fromEntries(counts.take())).toEqual({ applied: 2 });
    await handle([profile('u1', 1)], { ...ctxWith(users), metrics: counts });
    expect(Object.fromEntries(counts.take())).toEqual({ 'already-current': 1 });
  });

  it('upserts profiles, keeps the newest version per fan, and changes nothing on a replay', async () => {
    const users = new MemoryUserStore();
    const handle = userUpserterHandler();
    const out = await handle(
      [profile('u1', 1), profile('u2', 1), profile('u1', 3, 'new@example.test')],
      ctxWith(users),
    );
    expect(out.every((o) => 'outputs' in o && o.outputs.length === 0)).toBe(true);
    expect(await users.getUser('u1')).toEqual({
      globalUserId: 'u1',
      email: 'new@example.test',
      firstName: 'Ada',
      postalCode: '10001',
      locale: 'en-US',
      marketing: { emailOptIn: false, smsOptIn: true },
      version: 3,
      updatedAt: new Date(3).toISOString(),
    });
    await handle([profile('u1', 2, 'old@example.test')], ctxWith(users));
    expect((await users.getUser('u1'))?.email).toBe('new@example.test');
  });

  it('sends at most 25 per call and fails only the call that failed, retriably', async () => {
    const users = new MemoryUserStore();
    const calls: number[] = [];
    const upsert = users.upsertUsers.bind(users);
    users.upsertUsers = async (list) => {
      calls.push(list.length);
      if (calls.length === 2) throw new Error('socket hang up');
      return upsert(list);
    };
    const out = await userUpserterHandler()(
      Array.from({ length: 30 }, (_, i) => profile(`u${i}`, 1)),
      ctxWith(users),
    );
    expect(calls).toEqual([25, 5]);
    expect(out.slice(0, 25).every((o) => 'outputs' in o)).toBe(true);
    expect(out.slice(25).every((o) => 'error' in o && o.error instanceof RetriableError)).toBe(true);
  });
});
