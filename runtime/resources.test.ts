import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Config } from '../config/index.ts';
import { PermanentError, RetriableError } from '../lib/errors.ts';
import { defineResource, ResourcePool } from './resources.ts';

const env = { config: {} as Config, logger: pino({ level: 'silent' }) };

describe('ResourcePool', () => {
  it('opens a resource once for every processor that names it, and closes it after the last one', async () => {
    const events: string[] = [];
    const client = defineResource({
      name: 'client',
      open: async () => {
        events.push('open client');
        return { id: 1 };
      },
      close: async () => {
        events.push('close client');
      },
    });
    const store = defineResource({
      name: 'store',
      open: async ({ use }) => ({ client: await use(client) }),
    });
    const pool = new ResourcePool(env);
    const a = await pool.acquire({ client, store });
    const b = await pool.acquire({ store });
    expect(b.store).toBe(a.store);
    expect(a.store.client).toBe(a.client);
    expect(events).toEqual(['open client']);
    expect(pool.report()).toEqual([
      { name: 'client', state: 'ready' },
      { name: 'store', state: 'ready' },
    ]);
    await pool.release({ client, store });
    expect(events).toEqual(['open client']);
    await pool.closeAll();
    expect(events).toEqual(['open client', 'close client']);
  });

  it('retries a resource that does not answer yet, and reports it as opening meanwhile', async () => {
    let checks = 0;
    const flaky = defineResource({
      name: 'flaky',
      open: async () => 'value',
      check: async () => {
        if (++checks < 3) throw new RetriableError('not yet');
      },
    });
    const pool = new ResourcePool(env);
    const acquired = pool.acquire({ flaky });
    expect(pool.report()).toEqual([{ name: 'flaky', state: 'opening' }]);
    expect(pool.ready()).toBe(false);
    expect((await acquired).flaky).toBe('value');
    expect(pool.ready()).toBe(true);
  });

  it('fails at once on a permanent error, naming it', async () => {
    const broken = defineResource({
      name: 'broken',
      open: async (): Promise<string> => {
        throw new PermanentError('bad connection string');
      },
    });
    const pool = new ResourcePool(env);
    await expect(pool.acquire({ broken })).rejects.toThrow(/bad connection string/);
    expect(pool.report()).toEqual([
      { name: 'broken', state: 'failed', error: expect.stringMatching(/bad connection/) },
    ]);
  });
});
