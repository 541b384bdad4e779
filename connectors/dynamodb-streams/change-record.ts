import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { _Record, AttributeValue as StreamAttributeValue } from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ValidationError } from '../../lib/errors.ts';
import type { DemandChange } from '../../schemas/types.generated.ts';

// A DynamoDB stream record (or a scanned item) → the `demand.changes` envelope and its Kafka key.
// Pure: no client, no clock. Images are JSON of the plain item (DynamoDB's type tags removed).

/** The key attributes of the demand-table (single-table design: PK fan:{globalUserId}, SK ...). */
export const KEY_ATTRIBUTES = ['PK', 'SK'] as const;

export interface ChangeMessage {
  /** `PK|SK`: the changes of one item land on one partition, in order. */
  key: string;
  value: DemandChange;
}

type Item = Record<string, StreamAttributeValue | AttributeValue>;

/**
 * Numbers stay numbers when a JavaScript number holds them exactly; larger or more precise ones
 * (DynamoDB keeps 38 digits) become their decimal string, so nothing is silently rounded.
 */
const exactNumber = (text: string): number | string => {
  const n = Number(text);
  return Number.isFinite(n) && (Number.isSafeInteger(n) || !/^-?\d+$/.test(text)) && String(n) === text
    ? n
    : text;
};

/** JSON of the plain item: sets become sorted arrays, binary becomes base64. */
export function itemToJson(item: Item): string {
  const plain = unmarshall(item as Record<string, AttributeValue>, { wrapNumbers: exactNumber });
  return JSON.stringify(plain, (_key, value: unknown) => {
    if (value instanceof Set) return [...value].sort();
    if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
    return value;
  });
}

/** The Kafka key of an item: its PK and SK joined by `|` (a key attribute missing is a bad record). */
export function itemKeyOf(keys: Item): string {
  return KEY_ATTRIBUTES.map((name) => {
    const attr = keys[name] as { S?: string; N?: string } | undefined;
    const value = attr?.S ?? attr?.N;
    if (value === undefined) throw new ValidationError(`Keys.${name}`, 'missing, or not a string or number');
    return value;
  }).join('|');
}

const keysJson = (keys: Item): Record<string, string> => {
  const plain = JSON.parse(itemToJson(keys)) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, JSON.stringify(v)]));
};

/** One stream record as a change message. Throws a ValidationError naming the field it lacks. */
export function changeFromStreamRecord(record: _Record, table: string, shardId: string): ChangeMessage {
  const op = record.eventName;
  if (op !== 'INSERT' && op !== 'MODIFY' && op !== 'REMOVE') {
    throw new ValidationError('eventName', `expected INSERT, MODIFY or REMOVE, got ${JSON.stringify(op)}`);
  }
  const data = record.dynamodb;
  if (data?.Keys === undefined) throw new ValidationError('dynamodb.Keys', 'missing');
  if (data.SequenceNumber === undefined) throw new ValidationError('dynamodb.SequenceNumber', 'missing');
  const created = data.ApproximateCreationDateTime;
  if (created === undefined) throw new ValidationError('dynamodb.ApproximateCreationDateTime', 'missing');
  return {
    key: itemKeyOf(data.Keys),
    value: {
      eventId: record.eventID ?? `${shardId}:${data.SequenceNumber}`,
      op,
      table,
      keys: keysJson(data.Keys),
      oldImage: data.OldImage === undefined ? null : itemToJson(data.OldImage),
      newImage: data.NewImage === undefined ? null : itemToJson(data.NewImage),
      sequenceNumber: data.SequenceNumber,
      shardId,
      approximateCreationTime: new Date(created).getTime(),
      source: 'STREAM',
    },
  };
}

/** A scanned item as a synthetic INSERT of snapshot `snapshotId`. */
export function changeFromSnapshotItem(
  item: Item,
  table: string,
  snapshotId: string,
  scannedAt: number,
): ChangeMessage {
  const key = itemKeyOf(item);
  const keys = Object.fromEntries(KEY_ATTRIBUTES.map((k) => [k, item[k]!]));
  return {
    key,
    value: {
      eventId: `snapshot:${snapshotId}:${key}`,
      op: 'INSERT',
      table,
      keys: keysJson(keys),
      oldImage: null,
      newImage: itemToJson(item),
      sequenceNumber: null,
      shardId: null,
      approximateCreationTime: scannedAt,
      source: 'SNAPSHOT',
    },
  };
}
