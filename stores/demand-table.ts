import {
  type AttributeValue,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateItemCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import { waitFor } from '../lib/retry.ts';
import type { NormalizedEntry } from '../registration/eligibility.ts';
import type { EntryRecord } from './entries.ts';

// The DynamoDB `demand-table` (the registration API writes it; the connector streams it).
//
// Single-table design keyed by fan, so everything of one fan sits in one partition and one Query:
//   entry of a campaign     PK `fan:{globalUserId}`  SK `entry#{campaignId}`
//   reminder of a market    PK `fan:{globalUserId}`  SK `asu#{campaignId}-{marketId}#reminder`   (notifications)
// Every item carries `type` ('entry', 'reminder'). The stream is NEW_AND_OLD_IMAGES, so the
// replicator sees what changed and a REMOVE still carries the deleted entry.
//
// Entry items: the normalized entry, `campaignId`, `globalUserId`, `needsReplication: true`,
// `date` { updated, fanModified } (ISO), `createdAt`, and `version`: a number that only grows per
// item, derived from the clock in microseconds (ms × 1000 + a per-process counter), written with a
// condition `version < :new`, so it keeps growing across a withdrawal and a new registration (a
// re-created item never reuses an old version, and the entry store's tombstones stay correct).
// When the condition fails (two writes in one microsecond, or a clock behind), the write retries
// with the stored version + 1.

export const entryKey = (globalUserId: string, campaignId: string) => ({
  PK: `fan:${globalUserId}`,
  SK: `entry#${campaignId}`,
});

export const reminderKey = (globalUserId: string, campaignId: string, marketId: string) => ({
  PK: `fan:${globalUserId}`,
  SK: `asu#${campaignId}-${marketId}#reminder`,
});

export interface StoredEntry extends EntryRecord {
  needsReplication: boolean;
}

let counter = 0;
/** A version above every version this process handed out and near the clock (µs since epoch). */
export function nextVersion(now = Date.now()): number {
  counter = (counter + 1) % 1000;
  return now * 1000 + counter;
}

export class DemandTable {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  /** Creates the table with its stream (NEW_AND_OLD_IMAGES) if missing, enables the stream if off. */
  async ensureTable(): Promise<void> {
    const TableName = this.tableName;
    try {
      await this.client.send(
        new CreateTableCommand({
          TableName,
          AttributeDefinitions: [
            { AttributeName: 'PK', AttributeType: 'S' },
            { AttributeName: 'SK', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'PK', KeyType: 'HASH' },
            { AttributeName: 'SK', KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
          StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
        }),
      );
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw err;
    }
    const active = await waitFor(
      async () => {
        const { Table } = await this.client.send(new DescribeTableCommand({ TableName }));
        return Table?.TableStatus === 'ACTIVE';
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    if (!active) throw new Error(`table ${TableName} did not become ACTIVE`);
    const { Table } = await this.client.send(new DescribeTableCommand({ TableName }));
    if (!Table?.StreamSpecification?.StreamEnabled) {
      await this.client.send(
        new UpdateTableCommand({
          TableName,
          StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
        }),
      );
    }
  }

  async getEntry(globalUserId: string, campaignId: string): Promise<StoredEntry | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshalKey(entryKey(globalUserId, campaignId)),
        ConsistentRead: true,
      }),
    );
    return Item ? toStoredEntry(Item) : undefined;
  }

  async hasEntry(globalUserId: string, campaignId: string): Promise<boolean> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshalKey(entryKey(globalUserId, campaignId)),
        ConsistentRead: true,
        ProjectionExpression: 'PK',
      }),
    );
    return Item !== undefined;
  }

  /** Writes the fan's entry (create or change) flagged for replication; returns the stored entry. */
  async putEntry(
    globalUserId: string,
    campaignId: string,
    entry: NormalizedEntry,
    now = new Date(),
  ): Promise<StoredEntry> {
    const iso = now.toISOString();
    const set: Record<string, AttributeValue> = {
      type: { S: 'entry' },
      campaignId: { S: campaignId },
      globalUserId: { S: globalUserId },
      email: { S: entry.email },
      locale: { S: entry.locale },
      markets: { L: entry.markets.map((m) => ({ S: m })) },
      marketing: {
        M: { emailOptIn: { BOOL: entry.marketing.emailOptIn }, smsOptIn: { BOOL: entry.marketing.smsOptIn } },
      },
      needsReplication: { BOOL: true },
      date: { M: { updated: { S: iso }, fanModified: { S: iso } } },
    };
    const remove: string[] = [];
    for (const f of ['firstName', 'lastName', 'phone', 'postalCode', 'linkedFrom'] as const) {
      const v = entry[f];
      if (v === undefined) remove.push(f);
      else set[f] = { S: v };
    }
    if (entry.doTransfer === undefined) remove.push('doTransfer');
    else set.doTransfer = { BOOL: entry.doTransfer };

    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = { ':now': { S: iso } };
    const assignments = Object.entries(set).map(([k, v], i) => {
      names[`#a${i}`] = k;
      values[`:a${i}`] = v;
      return `#a${i} = :a${i}`;
    });
    remove.forEach((k, i) => {
      names[`#r${i}`] = k;
    });
    names['#v'] = 'version';
    names['#c'] = 'createdAt';
    let version = nextVersion(now.getTime());
    for (let attempt = 1; ; attempt++) {
      values[':v'] = { N: String(version) };
      try {
        const { Attributes } = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: marshalKey(entryKey(globalUserId, campaignId)),
            UpdateExpression:
              `SET ${assignments.join(', ')}, #v = :v, #c = if_not_exists(#c, :now)` +
              (remove.length ? ` REMOVE ${remove.map((_, i) => `#r${i}`).join(', ')}` : ''),
            ConditionExpression: 'attribute_not_exists(#v) OR #v < :v',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        return toStoredEntry(Attributes ?? {});
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException) || attempt >= 5) throw err;
        const current = await this.getEntry(globalUserId, campaignId);
        version = Math.max(nextVersion(), (current?.version ?? 0) + 1);
      }
    }
  }

  /** Withdraws the fan's entry; returns the deleted entry, or undefined when there was none. */
  async deleteEntry(globalUserId: string, campaignId: string): Promise<StoredEntry | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: marshalKey(entryKey(globalUserId, campaignId)),
          ReturnValues: 'ALL_OLD',
        }),
      );
      return Attributes ? toStoredEntry(Attributes) : undefined;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
  }
}

function marshalKey(key: { PK: string; SK: string }): Record<string, AttributeValue> {
  return { PK: { S: key.PK }, SK: { S: key.SK } };
}

/** Plain JS value of a DynamoDB attribute (S, N, BOOL, NULL, L, M, SS, NS). */
export function unmarshal(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.L !== undefined) return value.L.map(unmarshal);
  if (value.M !== undefined) return unmarshalItem(value.M);
  if (value.SS !== undefined) return [...value.SS];
  if (value.NS !== undefined) return value.NS.map(Number);
  return undefined;
}

export function unmarshalItem(item: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, unmarshal(v)]));
}

function toStoredEntry(item: Record<string, AttributeValue>): StoredEntry {
  const { PK: _pk, SK: _sk, type: _t, ...rest } = unmarshalItem(item);
  return rest as unknown as StoredEntry;
}
