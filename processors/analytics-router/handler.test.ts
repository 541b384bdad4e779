import { describe, expect, it } from 'vitest';
import { Header } from '../../runtime/headers.ts';
import type { InputRecord } from '../../runtime/types.ts';
import type { DataRecord } from '../../schemas/types.generated.ts';
import { envelope, SAMPLE_DATA } from '../../test/fixtures/analytics-samples.ts';
import { topology } from '../../topology/index.ts';
import { analyticsRouterHandler } from './handler.ts';
import { ANALYTICS_ROUTER, analyticsRouterProcessor, analyticsTopics } from './processor.ts';
import { AnalyticsHeader, DATA_TYPES, dedupIdOf } from './records.ts';

const warnings: object[] = [];
const ctx = {
  processor: ANALYTICS_ROUTER,
  log: { info() {}, warn: (o: object) => void warnings.push(o) },
  resources: {},
};
const topics = analyticsTopics('t.');
const handle = analyticsRouterHandler(topics);
const input = (value: DataRecord, headers: Record<string, string> = {}): InputRecord<DataRecord> => ({
  topic: 't.data.records',
  partition: 2,
  offset: '41',
  key: 'k-1',
  value,
  headers,
  timestamp: '0',
  attempt: 1,
});

describe('analytics-router handler', () => {
  it.each(DATA_TYPES)(
    'sends a valid %s to its type topic, keyed by entity, with the dedup id header',
    async (type) => {
      const value = envelope(type, SAMPLE_DATA[type]);
      const [out, ...rest] = await handle(input(value), ctx);
      expect(rest).toEqual([]);
      const id = dedupIdOf(type, value.source, value.sourceRecordId);
      expect(out).toMatchObject({ topic: topics.byType[type], headers: { [AnalyticsHeader.DEDUP_ID]: id } });
      expect((out!.value as { recordId: string }).recordId).toBe(id);
      expect(out!.key).not.toBe('k-1');
    },
  );

  it('sends an invalid record, unchanged, to the rejected topic with reason, field and origin headers, and logs it', async () => {
    warnings.length = 0;
    const value = envelope('MARKET', { ...SAMPLE_DATA.MARKET, ticketer: 3 });
    const out = await handle(input(value, { 'trace-id': 'abc' }), ctx);
    expect(out).toEqual([
      {
        topic: topics.rejected,
        key: 'k-1',
        value,
        headers: {
          'trace-id': 'abc',
          [AnalyticsHeader.REJECT_REASON]: 'SCHEMA_VIOLATION',
          [AnalyticsHeader.REJECT_FIELD]: 'ticketer',
          [AnalyticsHeader.REJECT_MESSAGE]: 'MARKET: ticketer expected string, got number',
          [Header.ORIGINAL_TOPIC]: 't.data.records',
          [Header.ORIGINAL_PARTITION]: '2',
          [Header.ORIGINAL_OFFSET]: '41',
          [Header.ORIGINAL_CONSUMER_GROUP]: ANALYTICS_ROUTER,
        },
      },
    ]);
    expect(warnings).toEqual([expect.objectContaining({ reason: 'SCHEMA_VIOLATION', field: 'ticketer' })]);
  });

  it('rejects rather than throws, whatever the envelope holds', () => {
    for (const value of [envelope('X', '{'), envelope('CAMPAIGN', ''), envelope('MARKET', '[]')]) {
      expect(() => handle(input(value), ctx)).not.toThrow();
    }
  });
});

describe('analytics-router wiring', () => {
  it('matches the topology: reads data.records, writes the five type topics and the rejected topic', () => {
    const def = analyticsRouterProcessor();
    const spec = topology.processors.find((p) => p.name === ANALYTICS_ROUTER)!;
    expect(def.spec).toBe(spec);
    expect(spec.inputs).toEqual(['data.records']);
    expect(Object.keys(def.outputSchemas).sort()).toEqual([...spec.outputs].sort());
    const declared = new Map(topology.topics.map((t) => [t.name, t.valueSchema]));
    expect(declared.get('data.records')).toBe('data-record');
    expect(declared.get('registration')).toBe('analytics-registration');
    expect(declared.get('data.records.rejected')).toBe('data-record');
  });

  it('refuses topics that are not among the spec outputs', () => {
    const spec = topology.processors.find((p) => p.name === ANALYTICS_ROUTER)!;
    expect(() => analyticsRouterProcessor({ spec, topics: analyticsTopics('other.') })).toThrow(
      /not among its outputs/,
    );
  });
});
