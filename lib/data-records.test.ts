import { describe, expect, it } from 'vitest';
import { type DataRecord, type ProducedMessage, ProducerDataRecordsPublisher } from './data-records.ts';

describe('ProducerDataRecordsPublisher', () => {
  it('sends each record’s envelope keyed and headed by its dedup id, in order, in one call', async () => {
    const calls: ProducedMessage[][] = [];
    const publisher = new ProducerDataRecordsPublisher(async (messages) => {
      calls.push(messages);
    });
    const record = (id: string): DataRecord => ({
      type: 'CAMPAIGN',
      data: { campaignId: 'c' },
      occurredAt: '2027-01-01T00:00:00.000Z',
      source: 'campaign-service',
      sourceRecordId: id,
    });
    await publisher.publish([record('a'), record('b')]);
    await publisher.publish([]);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.map((m) => m.key)).toEqual(['a', 'b']);
    expect(JSON.parse(String(calls[0]?.[1]?.value))).toEqual({
      type: 'CAMPAIGN',
      data: '{"campaignId":"c"}',
      occurredAt: Date.parse('2027-01-01T00:00:00.000Z'),
      source: 'campaign-service',
      sourceRecordId: 'b',
    });
    expect(calls[0]?.[0]?.headers).toEqual({ 'regflow-record-type': 'CAMPAIGN', 'regflow-dedup-id': 'a' });
  });

  it('lets a failed send fail the publish (the relay keeps the records)', async () => {
    const publisher = new ProducerDataRecordsPublisher(async () => {
      throw new Error('broker down');
    });
    await expect(
      publisher.publish([{ type: 'MARKET', data: {}, occurredAt: 'x', source: 's', sourceRecordId: 'x' }]),
    ).rejects.toThrow('broker down');
  });
});
