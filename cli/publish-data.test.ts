import { describe, expect, it } from 'vitest';
import { SAMPLE_DATA } from '../test/fixtures/analytics-samples.ts';
import { parseDataLines } from './publish-data.ts';

const line = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'MARKET',
    data: SAMPLE_DATA.MARKET,
    occurredAt: '2027-01-12T10:00:00Z',
    source: 'script',
    sourceRecordId: 'm1@1',
    ...over,
  });

describe('publish-data line parsing', () => {
  it('turns each line into an envelope keyed like the router keys it, skipping blank lines', () => {
    const { records, errors } = parseDataLines(
      `${line()}\n\n${line({ data: JSON.stringify(SAMPLE_DATA.CAMPAIGN), type: 'CAMPAIGN', occurredAt: 5 })}\n`,
      { file: 'r.jsonl' },
    );
    expect(errors).toEqual([]);
    expect(records.map((r) => [r.line, r.key])).toEqual([
      [1, 'c1:m1'],
      [3, 'c1'],
    ]);
    expect(records[0]!.value).toEqual({
      type: 'MARKET',
      data: JSON.stringify(SAMPLE_DATA.MARKET),
      occurredAt: Date.UTC(2027, 0, 12, 10),
      source: 'script',
      sourceRecordId: 'm1@1',
    });
    expect(records[1]!.value.data).toBe(JSON.stringify(SAMPLE_DATA.CAMPAIGN));
  });

  it('names the line and the field of every bad line', () => {
    const text = [
      line(),
      '{"type": ',
      line({ sourceRecordId: undefined }),
      line({ occurredAt: 'yesterday' }),
      line({ type: 'VENUE' }),
      line({ data: { ...SAMPLE_DATA.MARKET, presaleAt: 'soon', date: undefined } }),
      '[1]',
    ].join('\n');
    const { records, errors } = parseDataLines(text, { file: 'r.jsonl' });
    expect(records).toHaveLength(1);
    expect(errors).toEqual([
      expect.stringMatching(/^r\.jsonl:2: not JSON/),
      'r.jsonl:3: sourceRecordId: is required',
      expect.stringMatching(/^r\.jsonl:4: occurredAt: expected an ISO 8601 date-time/),
      expect.stringMatching(/^r\.jsonl:5: UNKNOWN_TYPE: type "VENUE"/),
      expect.stringMatching(/^r\.jsonl:6: SCHEMA_VIOLATION: MARKET: presaleAt: /),
      expect.stringMatching(/^r\.jsonl:7: line: must be a JSON object/),
    ]);
  });

  it('with allowInvalid keeps records the router will reject, but never a malformed envelope', () => {
    const { records, errors } = parseDataLines(
      [line({ type: 'VENUE' }), line({ data: '' }), line({ source: 7 })].join('\n'),
      {
        file: 'r.jsonl',
        allowInvalid: true,
      },
    );
    expect(records.map((r) => [r.value.type, r.key])).toEqual([
      ['VENUE', 'm1@1'],
      ['MARKET', 'm1@1'],
    ]);
    expect(errors).toEqual(['r.jsonl:3: source: must be a non-empty string']);
  });
});
