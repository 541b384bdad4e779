import { describe, expect, it } from 'vitest';
import { type ApiClient, registerMany } from './api-client.ts';
import { registrationOf } from './fans.ts';

describe('registerMany', () => {
  it('tries a 503 or a network error again with backoff; counts 200, 422 and what never succeeded', async () => {
    const calls = new Map<string, number>();
    const api = {
      register: async (_c: string, fan: string) => {
        const n = (calls.get(fan) ?? 0) + 1;
        calls.set(fan, n);
        if (fan === 'f0' && n < 3) return { status: 503, body: { error: 'UNAVAILABLE' } };
        if (fan === 'f1' && n === 1) throw new Error('socket hang up');
        if (fan === 'f2') return { status: 422, body: { reason: 'CAMPAIGN_CLOSED' } };
        if (fan === 'f3') return { status: 503, body: { error: 'UNAVAILABLE' } };
        return { status: 200, body: { isEligible: true } };
      },
    } as unknown as ApiClient;
    const outcome = await registerMany(
      api,
      'c',
      5,
      (i) => ({ id: `f${i}`, entry: registrationOf('r', i, ['m']) }),
      { concurrency: 5, onProgress: () => {} },
    );
    expect(outcome).toMatchObject({ ok: 3, refused: 1, failed: 1 });
    expect(calls.get('f0')).toBe(3);
    expect(calls.get('f1')).toBe(2);
    expect(calls.get('f3')).toBe(6);
    expect(outcome.samples.join('\n')).toContain('f3: HTTP 503');
  }, 30_000);
});
