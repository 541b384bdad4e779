import { describe, expect, it } from 'vitest';
import { beatWhile, handlerHeartbeat } from './heartbeat.ts';

describe('handlerHeartbeat', () => {
  it('asks kafkajs at most once per interval, however often the handler calls it', async () => {
    let t = 0;
    let beats = 0;
    const heartbeat = handlerHeartbeat(async () => void beats++, { everyMs: 1_000, now: () => t });
    await heartbeat();
    await Promise.all([heartbeat(), heartbeat(), heartbeat()]);
    expect(beats).toBe(1);
    t = 999;
    await heartbeat();
    expect(beats).toBe(1);
    t = 1_000;
    await Promise.all([heartbeat(), heartbeat()]);
    expect(beats).toBe(2);
  });

  it('never throws into the handler: a refused heartbeat is reported and the next one is asked again', async () => {
    let t = 0;
    const errors: unknown[] = [];
    let calls = 0;
    const heartbeat = handlerHeartbeat(
      async () => {
        calls++;
        if (calls === 1) throw new Error('The group is rebalancing, so a rejoin is needed');
      },
      { everyMs: 1_000, now: () => t, onError: (err) => errors.push(err) },
    );
    await expect(heartbeat()).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    t = 2_000;
    await heartbeat();
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
  });
});

describe('beatWhile', () => {
  it('asks for a heartbeat every interval while the work runs, and stops when it ends', async () => {
    let beats = 0;
    const ctx = { heartbeat: async () => void beats++ };
    const value = await beatWhile(ctx, new Promise((r) => setTimeout(() => r('done'), 130)), 20);
    expect(value).toBe('done');
    expect(beats).toBeGreaterThanOrEqual(4);
    const after = beats;
    await new Promise((r) => setTimeout(r, 60));
    expect(beats).toBe(after);
  });

  it('passes a failure of the work through, and is the work itself without ctx.heartbeat', async () => {
    await expect(
      beatWhile({ heartbeat: async () => {} }, Promise.reject(new Error('store down')), 10),
    ).rejects.toThrow('store down');
    expect(await beatWhile({}, Promise.resolve(7))).toBe(7);
  });
});
