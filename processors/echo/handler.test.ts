import { describe, expect, it } from 'vitest';
import { PermanentError, RetriableError } from '../../lib/errors.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { SampleEvent } from '../../schemas/types.generated.ts';
import { echoHandler } from './handler.ts';

const ctx = { processor: 'echo', log: { info() {}, warn() {} }, resources: {} };
const record = (behavior: string, attempt = 1): InputRecord<SampleEvent> => ({
  topic: 'sample.events',
  partition: 0,
  offset: '7',
  key: 'fan-1',
  value: { id: 'e1', key: 'fan-1', seq: 1, payload: 'x', behavior, producedAt: 0 },
  headers: {},
  timestamp: '0',
  attempt,
});

describe('echo handler', () => {
  it('forwards an ok event to its output with the same key and value', async () => {
    const out = await echoHandler('out')(record('ok'), ctx);
    expect(out).toEqual([{ topic: 'out', key: 'fan-1', value: record('ok').value }]);
  });

  it('fails permanently for a permanent event and retriably for poison', () => {
    expect(() => echoHandler('out')(record('permanent'), ctx)).toThrow(PermanentError);
    expect(() => echoHandler('out')(record('poison', 9), ctx)).toThrow(RetriableError);
  });

  it('fails a transient:2 event on attempts 1 and 2 and forwards it on attempt 3', async () => {
    expect(() => echoHandler('out')(record('transient:2', 1), ctx)).toThrow(RetriableError);
    expect(() => echoHandler('out')(record('transient:2', 2), ctx)).toThrow(RetriableError);
    expect(await echoHandler('out')(record('transient:2', 3), ctx)).toHaveLength(1);
  });
});
