import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import { loadSchema } from '../../schemas/index.ts';
import { changeFromSnapshotItem, changeFromStreamRecord, itemToJson } from './change-record.ts';

const keys = { PK: { S: 'fan:42' }, SK: { S: 'asu#camp-1' } };
const modify: _Record = {
  eventID: 'ev-1',
  eventName: 'MODIFY',
  dynamodb: {
    ApproximateCreationDateTime: new Date('2026-11-26T10:00:00.123Z'),
    Keys: keys,
    OldImage: { ...keys, markets: { SS: ['NYC', 'LA'] }, needsReplication: { BOOL: false } },
    NewImage: {
      ...keys,
      markets: { SS: ['LA', 'NYC', 'SF'] },
      needsReplication: { BOOL: true },
      date: { M: { updated: { N: '1795600000123' } } },
      score: { N: '12345678901234567890123' },
      ratio: { N: '0.25' },
      blob: { B: new Uint8Array([1, 2, 3]) },
      nothing: { NULL: true },
      list: { L: [{ S: 'a' }, { N: '1' }] },
    },
    SequenceNumber: '100000000000000000123',
  },
};

describe('change records', () => {
  it('turns a MODIFY stream record into the envelope keyed PK|SK with plain JSON images', () => {
    const { key, value } = changeFromStreamRecord(modify, 'demand-table', 'shardId-1');
    expect(key).toBe('fan:42|asu#camp-1');
    expect(value).toMatchObject({
      eventId: 'ev-1',
      op: 'MODIFY',
      table: 'demand-table',
      keys: { PK: '"fan:42"', SK: '"asu#camp-1"' },
      sequenceNumber: '100000000000000000123',
      shardId: 'shardId-1',
      approximateCreationTime: Date.parse('2026-11-26T10:00:00.123Z'),
      source: 'STREAM',
    });
    expect(JSON.parse(value.oldImage!)).toEqual({
      PK: 'fan:42',
      SK: 'asu#camp-1',
      markets: ['LA', 'NYC'],
      needsReplication: false,
    });
    expect(JSON.parse(value.newImage!)).toEqual({
      PK: 'fan:42',
      SK: 'asu#camp-1',
      markets: ['LA', 'NYC', 'SF'],
      needsReplication: true,
      date: { updated: 1795600000123 },
      score: '12345678901234567890123',
      ratio: 0.25,
      blob: 'AQID',
      nothing: null,
      list: ['a', 1],
    });
    // The envelope is valid for the topic's Avro schema.
    const type = avro.Type.forSchema(loadSchema('demand-change') as avro.Schema);
    expect(type.isValid(value)).toBe(true);
  });

  it('has no old image on INSERT and no new image on REMOVE', () => {
    const insert = changeFromStreamRecord(
      { ...modify, eventName: 'INSERT', dynamodb: { ...modify.dynamodb, OldImage: undefined } },
      't',
      's',
    );
    expect(insert.value.oldImage).toBeNull();
    const remove = changeFromStreamRecord(
      { ...modify, eventName: 'REMOVE', dynamodb: { ...modify.dynamodb, NewImage: undefined } },
      't',
      's',
    );
    expect(remove.value.newImage).toBeNull();
    expect(remove.value.op).toBe('REMOVE');
  });

  it('names the field of a malformed stream record', () => {
    expect(() => changeFromStreamRecord({ ...modify, eventName: undefined }, 't', 's')).toThrow(
      /eventName: expected INSERT, MODIFY or REMOVE/,
    );
    expect(() =>
      changeFromStreamRecord(
        { ...modify, dynamodb: { ...modify.dynamodb, Keys: { PK: { S: 'x' } } } },
        't',
        's',
      ),
    ).toThrow(ValidationError);
    expect(() =>
      changeFromStreamRecord(
        { ...modify, dynamodb: { ...modify.dynamodb, SequenceNumber: undefined } },
        't',
        's',
      ),
    ).toThrow(/dynamodb\.SequenceNumber/);
  });

  it('makes a snapshot item a synthetic INSERT with a deterministic event id', () => {
    const item = { ...keys, markets: { SS: ['LA'] } };
    const a = changeFromSnapshotItem(item, 'demand-table', 'snap-1', 1_000);
    expect(a.key).toBe('fan:42|asu#camp-1');
    expect(a.value).toMatchObject({
      eventId: 'snapshot:snap-1:fan:42|asu#camp-1',
      op: 'INSERT',
      oldImage: null,
      sequenceNumber: null,
      shardId: null,
      approximateCreationTime: 1_000,
      source: 'SNAPSHOT',
    });
    expect(JSON.parse(a.value.newImage!)).toEqual({ PK: 'fan:42', SK: 'asu#camp-1', markets: ['LA'] });
    expect(changeFromSnapshotItem(item, 'demand-table', 'snap-1', 2_000).value.eventId).toBe(a.value.eventId);
  });

  it('writes sets sorted, so equal items give equal JSON', () => {
    expect(itemToJson({ s: { SS: ['b', 'a'] } })).toBe(itemToJson({ s: { SS: ['a', 'b'] } }));
  });
});
