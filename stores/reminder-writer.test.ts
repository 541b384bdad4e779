import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import type { ReminderRecord } from '../notifications/reminder-records.ts';
import { DynamoReminderWriter } from './reminder-writer.ts';

// The BatchWriteItem loop against a fake client: 25 items a request, unprocessed items sent again,
// a permanent error counted as failed, concurrency respected.

const record = (i: number): ReminderRecord => ({
  PK: `fan:f${i}`,
  SK: 'asu#c-m#reminder',
  globalUserId: `f${i}`,
  campaignId: 'c',
  marketId: 'm',
  phoneNumber: '+13105550000',
  locale: 'en-US',
  body: 'b',
  presaleAt: '2026-11-02T18:30:00.000Z',
});

type Request = { input: { RequestItems: Record<string, unknown[]> } };

function fakeClient(answer: (items: unknown[], call: number) => unknown[] | Error) {
  const calls: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    send: async (cmd: Request) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      const items = cmd.input.RequestItems.t!;
      calls.push(items.length);
      const left = answer(items, calls.length);
      if (left instanceof Error) throw left;
      return { UnprocessedItems: left.length ? { t: left } : {} };
    },
  } as unknown as DynamoDBClient;
  return { client, calls, maxInFlight: () => maxInFlight };
}

describe('DynamoReminderWriter', () => {
  it('writes 25 items a request with at most `concurrency` in flight', async () => {
    const fake = fakeClient(() => []);
    const writer = new DynamoReminderWriter(fake.client, 't', { concurrency: 3 });
    const session = writer.session();
    await session.push(Array.from({ length: 110 }, (_, i) => record(i)));
    expect(await session.finish()).toEqual({ written: 110, failed: 0 });
    expect(fake.calls).toEqual([25, 25, 25, 25, 10]);
    expect(fake.maxInFlight()).toBeLessThanOrEqual(3);
  });

  it('sends unprocessed items again until they are written', async () => {
    const fake = fakeClient((items, call) => (call <= 2 ? items.slice(0, 10) : []));
    const writer = new DynamoReminderWriter(fake.client, 't', {
      retry: { initialDelayMs: 1, maxDelayMs: 2 },
    });
    const session = writer.session();
    await session.push(Array.from({ length: 25 }, (_, i) => record(i)));
    expect(await session.finish()).toEqual({ written: 25, failed: 0 });
    expect(fake.calls).toEqual([25, 10, 10]);
  });

  it('counts items as failed after the attempts, or at once on a permanent error', async () => {
    const always = fakeClient((items) => items.slice(0, 5));
    const w1 = new DynamoReminderWriter(always.client, 't', {
      retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
    });
    const s1 = w1.session();
    await s1.push(Array.from({ length: 25 }, (_, i) => record(i)));
    expect(await s1.finish()).toEqual({ written: 20, failed: 5, lastError: '5 unprocessed items' });
    expect(always.calls).toHaveLength(3);

    const missing = Object.assign(new Error('Requested resource not found'), {
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 400 },
    });
    const broken = fakeClient(() => missing);
    const s2 = new DynamoReminderWriter(broken.client, 't').session();
    await s2.push(Array.from({ length: 30 }, (_, i) => record(i)));
    expect(await s2.finish()).toMatchObject({ written: 0, failed: 30 });
    expect(broken.calls).toHaveLength(2);
  });
});
