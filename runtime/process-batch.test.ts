import { describe, expect, it } from 'vitest';
import { PermanentError, RetriableError } from '../lib/errors.ts';
import type { ProcessorSpec } from '../topology/types.ts';
import { DecodeError } from './codec.ts';
import { Header } from './headers.ts';
import { createBatchProcessor } from './process-batch.ts';
import type { RecordCodec } from './process-record.ts';
import { type BatchHandler, failed, succeeded } from './types.ts';

const codec: RecordCodec = {
  decode: async (b) => {
    if (b === null || b[0] !== 0x7b) throw new DecodeError('not JSON');
    return JSON.parse(b.toString());
  },
  encode: async (_topic, v) => Buffer.from(JSON.stringify(v)),
};
const spec: ProcessorSpec = {
  name: 'saver',
  description: '',
  inputs: ['in'],
  outputs: ['out'],
  retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2, tierDelaysMs: [1_000] },
};
const ctx = { processor: 'saver', log: { info() {}, warn() {} }, resources: {} };
const records = (values: string[]) =>
  values.map((value, i) => ({
    topic: 'in',
    partition: 0,
    offset: String(i),
    timestamp: '0',
    key: Buffer.from(`k${i}`),
    value: Buffer.from(value),
    headers: {},
  }));
const run = (handler: BatchHandler, values: string[]) =>
  createBatchProcessor({ spec, handler, codec, now: () => 10_000, sleep: async () => {} })(
    records(values),
    ctx,
  );

describe('createBatchProcessor', () => {
  it('gives each record its own outputs', async () => {
    const outcomes = await run(
      async (rs) => rs.map((r) => succeeded([{ topic: 'out', key: r.key, value: r.value }])),
      ['{"n":1}', '{"n":2}'],
    );
    expect(outcomes.map((o) => o.ok && o.messages[0]?.value?.toString())).toEqual(['{"n":1}', '{"n":2}']);
  });

  it('retries only the records that failed retriably, and routes those that keep failing', async () => {
    const calls: string[][] = [];
    const outcomes = await run(
      async (rs) => {
        calls.push(rs.map((r) => r.offset));
        return rs.map((r) => {
          if (r.offset === '1' && r.attempt < 3) return failed(new RetriableError('throttled'));
          if (r.offset === '2') return failed(new RetriableError('down'));
          return succeeded([{ topic: 'out', key: r.key, value: r.value }]);
        });
      },
      ['{"n":0}', '{"n":1}', '{"n":2}'],
    );
    expect(calls).toEqual([
      ['0', '1', '2'],
      ['1', '2'],
      ['1', '2'],
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false]);
    expect(outcomes[1]).toMatchObject({ ok: true, attempts: 3 });
    expect(outcomes[1]?.ok && outcomes[1].messages[0]?.headers[Header.ATTEMPTS]).toBe('3');
    expect(outcomes[2]).toMatchObject({
      ok: false,
      attempts: 3,
      failure: { kind: 'retry', topic: 'saver.retry-1' },
    });
  });

  it('dead-letters a permanent failure and an undecodable record at once, without handing the latter over', async () => {
    const seen: string[] = [];
    const outcomes = await run(
      async (rs) => {
        seen.push(...rs.map((r) => r.offset));
        return rs.map((r) => (r.offset === '0' ? failed(new PermanentError('bad')) : succeeded()));
      },
      ['{"n":0}', 'garbage', '{"n":2}'],
    );
    expect(seen).toEqual(['0', '2']);
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.failure.kind))).toEqual(['dead-letter', 'dead-letter', 'ok']);
    expect(outcomes[1]).toMatchObject({ ok: false, attempts: 1 });
  });

  it('fails every record with the error when the handler throws, and dead-letters a wrong outcome count', async () => {
    let call = 0;
    const thrown = await run(async () => {
      call++;
      throw new RetriableError('store down');
    }, ['{"n":0}', '{"n":1}']);
    expect(call).toBe(3);
    expect(thrown.map((o) => !o.ok && o.failure.kind)).toEqual(['retry', 'retry']);

    const short = await run(async () => [succeeded()], ['{"n":0}', '{"n":1}']);
    expect(short.map((o) => !o.ok && o.failure.kind)).toEqual(['dead-letter', 'dead-letter']);
    expect(short[0]?.ok === false && String(short[0].error)).toMatch(/answered 1 outcomes for 2 records/);
  });
});
