import { describe, expect, it } from 'vitest';
import { envelope, SAMPLE_DATA } from '../../test/fixtures/analytics-samples.ts';
import {
  analyticsTypes,
  DATA_TYPES,
  dedupIdOf,
  RejectReason,
  type Routed,
  routeDataRecord,
} from './records.ts';

const ok = (r: Routed) => {
  if (!r.ok) throw new Error(`rejected: ${JSON.stringify(r.rejection)}`);
  return r;
};
const rejection = (r: Routed) => {
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.value)}`);
  return r.rejection;
};

describe('routeDataRecord: valid records', () => {
  it.each(DATA_TYPES)('formats a %s payload into a record its Avro type accepts and round-trips', (type) => {
    const r = ok(routeDataRecord(envelope(type, SAMPLE_DATA[type])));
    const avroType = analyticsTypes()[type];
    expect(avroType.isValid(r.value)).toBe(true);
    expect(avroType.fromBuffer(avroType.toBuffer(r.value))).toEqual(r.value);
    expect(r.value).toMatchObject({
      recordId: r.dedupId,
      occurredAt: Date.UTC(2027, 0, 12),
      source: 'unit-test',
      sourceRecordId: `src-${type}`,
    });
  });

  it('maps nested dates, gates and options to flat typed fields', () => {
    expect(ok(routeDataRecord(envelope('CAMPAIGN', SAMPLE_DATA.CAMPAIGN))).value).toMatchObject({
      id: 'c1',
      status: 'ACTIVE',
      gateType: 'LINKED_CAMPAIGN',
      linkedCampaignId: 'c0',
      openAt: Date.UTC(2027, 0, 10, 17),
      createdAt: 1_790_000_000_000,
      closedAt: null,
    });
    expect(ok(routeDataRecord(envelope('MARKET', SAMPLE_DATA.MARKET))).value).toMatchObject({
      presaleAt: Date.UTC(2027, 1, 1, 18),
      locales: ['en-US'],
      automatedReminders: true,
      notifiedAt: null,
    });
  });

  it('keeps contact data out of analytics: email, name, phone and postal code are dropped', () => {
    const r = ok(routeDataRecord(envelope('REGISTRATION', SAMPLE_DATA.REGISTRATION)));
    const text = JSON.stringify(r.value);
    for (const pii of ['fan@example.com', 'Fan Person', '+13105550100', '90012'])
      expect(text).not.toContain(pii);
    expect(r.value).toMatchObject({
      markets: ['m1', 'm2'],
      fanModifiedAt: Date.UTC(2027, 0, 12, 10, 0, 0, 250),
    });
    expect(
      JSON.stringify(ok(routeDataRecord(envelope('REGISTERED_MARKET', SAMPLE_DATA.REGISTERED_MARKET))).value),
    ).not.toContain('fan@example.com');
  });

  it('keys each record by its entity, so one entity keeps its order on one partition', () => {
    const keys = Object.fromEntries(
      DATA_TYPES.map((t) => [t, ok(routeDataRecord(envelope(t, SAMPLE_DATA[t]))).key]),
    );
    expect(keys).toEqual({
      CAMPAIGN: 'c1',
      MARKET: 'c1:m1',
      EVENT_MAPPING: 'c1:m1:ev-9',
      REGISTRATION: 'c1:gu-42',
      REGISTERED_MARKET: 'c1:m1:gu-42',
    });
  });
});

describe('dedup id', () => {
  it('is the same for the same source change, whatever else differs, and differs otherwise', () => {
    const a = ok(routeDataRecord(envelope('MARKET', SAMPLE_DATA.MARKET)));
    const again = ok(
      routeDataRecord(envelope('MARKET', { ...SAMPLE_DATA.MARKET, name: 'renamed' }, { occurredAt: 1 })),
    );
    expect(again.dedupId).toBe(a.dedupId);
    expect(a.dedupId).toMatch(/^[0-9a-f]{64}$/);
    const other = ok(routeDataRecord(envelope('MARKET', SAMPLE_DATA.MARKET, { sourceRecordId: 'src-2' })));
    expect(other.dedupId).not.toBe(a.dedupId);
    expect(dedupIdOf('MARKET', 'unit-test', 'src-MARKET')).toBe(a.dedupId);
  });

  it('cannot be made to collide by moving a separator between source and sourceRecordId', () => {
    expect(dedupIdOf('CAMPAIGN', 'a:b', 'c')).not.toBe(dedupIdOf('CAMPAIGN', 'a', 'b:c'));
  });
});

describe('routeDataRecord: rejections name the reason and the field', () => {
  it('rejects an unknown type (also a lower-case one) as UNKNOWN_TYPE on field type', () => {
    for (const type of ['VENUE', 'campaign', '']) {
      expect(rejection(routeDataRecord(envelope(type, SAMPLE_DATA.CAMPAIGN)))).toMatchObject({
        reason: RejectReason.UNKNOWN_TYPE,
        field: 'type',
      });
    }
  });

  it('rejects empty payloads as EMPTY_PAYLOAD: blank, null, {}', () => {
    for (const data of ['', '   ', 'null', '{}']) {
      expect(rejection(routeDataRecord(envelope('CAMPAIGN', data)))).toMatchObject({
        reason: RejectReason.EMPTY_PAYLOAD,
        field: 'data',
      });
    }
  });

  it('rejects a payload that is not a JSON object as MALFORMED_PAYLOAD', () => {
    for (const data of ['{"id": ', '[1,2]', '"text"', '42']) {
      expect(rejection(routeDataRecord(envelope('CAMPAIGN', data)))).toMatchObject({
        reason: RejectReason.MALFORMED_PAYLOAD,
        field: 'data',
      });
    }
  });

  it('checks the type before the payload, as the spec orders them', () => {
    expect(rejection(routeDataRecord(envelope('NOPE', '')))).toMatchObject({ reason: 'UNKNOWN_TYPE' });
  });

  it.each([
    [
      'a missing required field',
      'MARKET',
      { ...SAMPLE_DATA.MARKET, timezone: undefined },
      'timezone',
      /timezone is required/,
    ],
    [
      'a wrong type',
      'MARKET',
      { ...SAMPLE_DATA.MARKET, automatedReminders: 'yes' },
      'automatedReminders',
      /expected boolean, got string/,
    ],
    [
      'an unknown enum symbol',
      'CAMPAIGN',
      { ...SAMPLE_DATA.CAMPAIGN, status: 'OPEN' },
      'status',
      /one of DRAFT, ACTIVE, TRANSFERRING, CLOSED/,
    ],
    [
      'a bad array element',
      'REGISTRATION',
      { ...SAMPLE_DATA.REGISTRATION, markets: ['m1', 7] },
      'markets[1]',
      /expected string, got number/,
    ],
    [
      'a date that is no date',
      'MARKET',
      { ...SAMPLE_DATA.MARKET, date: { presale: 'next friday' } },
      'presaleAt',
      /ISO 8601/,
    ],
    [
      'a fractional int',
      'REGISTERED_MARKET',
      { ...SAMPLE_DATA.REGISTERED_MARKET, preference: 1.5 },
      'preference',
      /expected int, got a fractional number/,
    ],
    [
      'an empty id',
      'REGISTRATION',
      { ...SAMPLE_DATA.REGISTRATION, globalUserId: '' },
      'globalUserId',
      /must not be empty/,
    ],
  ])('rejects %s as SCHEMA_VIOLATION naming the field', (_, type, data, field, message) => {
    const r = rejection(routeDataRecord(envelope(type, data)));
    expect(r).toMatchObject({ reason: RejectReason.SCHEMA_VIOLATION, field });
    expect(r.message).toMatch(message);
    expect(r.message).toContain(type);
  });

  it('rejects an envelope without a source record id (no dedup id without it)', () => {
    expect(
      rejection(routeDataRecord(envelope('CAMPAIGN', SAMPLE_DATA.CAMPAIGN, { sourceRecordId: ' ' }))),
    ).toMatchObject({ reason: RejectReason.SCHEMA_VIOLATION, field: 'sourceRecordId' });
  });

  it('never echoes payload values in its messages (they may be personal data)', () => {
    const r = rejection(
      routeDataRecord(
        envelope('REGISTRATION', {
          ...SAMPLE_DATA.REGISTRATION,
          globalUserId: 'fan@example.com',
          markets: 'fan@example.com',
        }),
      ),
    );
    expect(r.field).toBe('markets');
    expect(r.message).not.toContain('fan@example.com');
  });
});
