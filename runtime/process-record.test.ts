import { describe, expect, it } from 'vitest';
import { PermanentError, RetriableError } from '../lib/errors.ts';
import type { ProcessorSpec } from '../topology/types.ts';
import { DecodeError } from './codec.ts';
import { Header } from './headers.ts';
import { createRecordProcessor, type RecordCodec } from './process-record.ts';
import { MAX_RECORD_BYTES } from './transactions.ts';
import type { Handler } from './types.ts';

// A JSON codec stands in for the registry: the routing rules do not depend on Avro.
const codec: RecordCodec = {
  decode: async (b) => {
    if (b === null || b[0] !== 0x7b) throw new DecodeError('not JSON');
    return JSON.parse(b.toString());
  },
  encode: async (_topic, v) => Buffer.from(JSON.stringify(v)),
};
const spec: ProcessorSpec = {
  name: 'echo',
  description: '',
  inputs: ['in'],
  outputs: ['out'],
  retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2, tierDelaysMs: [1_000, 5_000] },
};
const ctx = { processor: 'echo', log: { info() {}, warn() {} }, resources: {} };
const record = (topic = 'in', headers: Record<string, string> = {}, value = '{"n":1}') => ({
  topic,
  partition: 2,
  offset: '41',
  timestamp: '1700000000000',
  key: Buffer.from('k1'),
  value: Buffer.from(value),
  headers,
});
const run = (handler: Handler, r = record()) =>
  createRecordProcessor({ spec, handler, codec, now: () => 1_000_000 })(r, ctx);

describe('createRecordProcessor', () => {
  it('encodes the outputs, with no attempts header when the first attempt succeeded', async () => {
    const outcome = await run((r) => [{ topic: 'out', key: r.key, value: r.value }]);
    expect(outcome).toMatchObject({ ok: true, attempts: 1 });
    if (!outcome.ok) throw new Error('expected success');
    expect(outcome.messages).toEqual([
      { topic: 'out', key: 'k1', value: Buffer.from('{"n":1}'), headers: {} },
    ]);
  });

  it('retries a retriable error in place and succeeds within the attempts', async () => {
    let calls = 0;
    const outcome = await run((r) => {
      calls++;
      if (calls < 3) throw new RetriableError('timeout');
      return [{ topic: 'out', key: r.key, value: r.value }];
    });
    expect(outcome).toMatchObject({ ok: true, attempts: 3 });
    if (outcome.ok) expect(outcome.messages[0]?.headers).toEqual({ [Header.ATTEMPTS]: '3' });
  });

  it('moves a record that keeps failing to the first retry tier with its origin and due time', async () => {
    const outcome = await run(() => {
      throw new RetriableError('still down');
    });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.attempts).toBe(3);
    expect(outcome.failure).toMatchObject({ kind: 'retry', topic: 'echo.retry-1', key: Buffer.from('k1') });
    expect(outcome.failure.headers).toMatchObject({
      [Header.ORIGINAL_TOPIC]: 'in',
      [Header.ORIGINAL_PARTITION]: '2',
      [Header.ORIGINAL_OFFSET]: '41',
      [Header.ORIGINAL_CONSUMER_GROUP]: 'echo',
      [Header.ATTEMPTS]: '3',
      [Header.BACKOFF_TIMESTAMP]: String(1_000_000 + 1_000),
      [Header.EXCEPTION_FQCN]: 'RetriableError',
      [Header.EXCEPTION_MESSAGE]: 'still down',
    });
  });

  it('dead-letters after the last tier, keeping the first origin and counting every attempt', async () => {
    const fromTier2 = record('echo.retry-2', {
      [Header.ORIGINAL_TOPIC]: 'in',
      [Header.ORIGINAL_PARTITION]: '0',
      [Header.ORIGINAL_OFFSET]: '5',
      [Header.ATTEMPTS]: '6',
    });
    const seen: number[] = [];
    const outcome = await run((r) => {
      seen.push(r.attempt);
      expect(r.topic).toBe('in');
      throw new RetriableError('still down');
    }, fromTier2);
    expect(seen).toEqual([7, 8, 9]);
    if (outcome.ok) throw new Error('expected failure');
    expect(outcome.failure.kind).toBe('dead-letter');
    expect(outcome.failure.topic).toBe('echo.dlt');
    expect(outcome.failure.headers).toMatchObject({ [Header.ORIGINAL_OFFSET]: '5', [Header.ATTEMPTS]: '9' });
    expect(outcome.failure.headers[Header.BACKOFF_TIMESTAMP]).toBeUndefined();
  });

  it('dead-letters a permanent error at once, and an undecodable value too', async () => {
    let calls = 0;
    const permanent = await run(() => {
      calls++;
      throw new PermanentError('bad input');
    });
    expect(calls).toBe(1);
    expect(permanent).toMatchObject({
      ok: false,
      attempts: 1,
      failure: { kind: 'dead-letter', topic: 'echo.dlt' },
    });

    const garbage = await run(() => [], record('in', {}, 'not json'));
    expect(garbage).toMatchObject({
      ok: false,
      failure: { kind: 'dead-letter', value: Buffer.from('not json') },
    });
    if (!garbage.ok) expect(garbage.failure.headers[Header.EXCEPTION_FQCN]).toBe('DecodeError');
  });

  it('refuses an output to a topic the processor does not declare', async () => {
    const outcome = await run((r) => [{ topic: 'elsewhere', key: r.key, value: r.value }]);
    expect(outcome).toMatchObject({ ok: false, failure: { kind: 'dead-letter' } });
  });

  it('dead-letters a record whose output is larger than one Kafka record may be, naming origin, topic and size', async () => {
    let calls = 0;
    const big = 'x'.repeat(MAX_RECORD_BYTES);
    const outcome = await run((r) => {
      calls++;
      return [{ topic: 'out', key: r.key, value: { big } }];
    });
    // Permanent: no attempt in place, no retry tier (every transaction carrying it would abort).
    expect(calls).toBe(1);
    expect(outcome).toMatchObject({
      ok: false,
      attempts: 1,
      failure: { kind: 'dead-letter', topic: 'echo.dlt' },
    });
    if (outcome.ok) return;
    // The DLT record is the input as it was (small), with its origin in the headers.
    expect(outcome.failure.value).toEqual(Buffer.from('{"n":1}'));
    expect(outcome.failure.headers).toMatchObject({
      [Header.ORIGINAL_TOPIC]: 'in',
      [Header.ORIGINAL_PARTITION]: '2',
      [Header.ORIGINAL_OFFSET]: '41',
      [Header.EXCEPTION_FQCN]: 'PermanentError',
      [Header.EXCEPTION_CODE]: 'REGFLOW_PERMANENT',
    });
    expect(outcome.failure.headers[Header.EXCEPTION_MESSAGE]).toMatch(
      new RegExp(
        `^output to out is ${MAX_RECORD_BYTES + 76} bytes, over the ${MAX_RECORD_BYTES} one Kafka record may have .*; input in/2@41$`,
      ),
    );

    // Just under the limit is an output like any other.
    const fits = await run((r) => [{ topic: 'out', key: r.key, value: 'y'.repeat(MAX_RECORD_BYTES - 100) }]);
    expect(fits.ok).toBe(true);
  });
});
