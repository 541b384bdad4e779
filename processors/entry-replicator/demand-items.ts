import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { describeError, RetriableError } from '../../lib/errors.ts';
import { dynamodb } from '../../lib/resources.ts';
import { defineResource } from '../../runtime/resources.ts';
import { entryKey } from '../../stores/demand-table.ts';

// The replicator's view of the demand-table: what it validates a change against (the current
// version and date.updated of each entry item, read consistently) and the conditional unflag.
// A port (DemandItems) with a DynamoDB adapter; the handler's tests use an in-memory fake.

export interface EntryRef {
  table: string;
  globalUserId: string;
  campaignId: string;
}

/** What validation needs of the current item; null when there is no item. */
export interface CurrentItem {
  version: number;
  updated: string | null;
  needsReplication: boolean;
}

export type UnflagResult = 'unflagged' | 'changed';

export interface DemandItems {
  /** The current state of each entry (consistent reads), keyed by refKey. Throws when it cannot read them all. */
  current(refs: readonly EntryRef[]): Promise<Map<string, CurrentItem | null>>;
  /**
   * Sets needsReplication false only if the item still has this version and date.updated (and the
   * flag): `changed` when the item moved on meanwhile (or was already unflagged), and nothing is written.
   */
  unflag(ref: EntryRef, version: number, updated: string | null): Promise<UnflagResult>;
}

export const refKey = (r: EntryRef) => `${r.table}\u0000${r.globalUserId}\u0000${r.campaignId}`;

const BATCH_GET_MAX = 100;
const UNPROCESSED_ROUNDS = 4;

const keyOf = (r: EntryRef): Record<string, AttributeValue> => {
  const k = entryKey(r.globalUserId, r.campaignId);
  return { PK: { S: k.PK }, SK: { S: k.SK } };
};

const toCurrent = (item: Record<string, AttributeValue>): CurrentItem => ({
  version: Number(item.version?.N ?? Number.NaN),
  updated: item.date?.M?.updated?.S ?? null,
  needsReplication: item.needsReplication?.BOOL === true,
});

/** Any failure to read or write the table is worth retrying (and never means "valid"). */
const wrap = (what: string, err: unknown) =>
  err instanceof RetriableError ? err : new RetriableError(`${what}: ${describeError(err)}`, { cause: err });

export class DynamoDemandItems implements DemandItems {
  constructor(private readonly client: DynamoDBClient) {}

  async current(refs: readonly EntryRef[]): Promise<Map<string, CurrentItem | null>> {
    const out = new Map<string, CurrentItem | null>();
    const unique = [...new Map(refs.map((r) => [refKey(r), r])).values()];
    for (let i = 0; i < unique.length; i += BATCH_GET_MAX) {
      const chunk = unique.slice(i, i + BATCH_GET_MAX);
      for (const r of chunk) out.set(refKey(r), null);
      const byTable = new Map<string, EntryRef[]>();
      for (const r of chunk) byTable.set(r.table, [...(byTable.get(r.table) ?? []), r]);
      let request: NonNullable<BatchGetItemCommandInput['RequestItems']> = Object.fromEntries(
        [...byTable].map(([table, list]) => [
          table,
          {
            Keys: list.map(keyOf),
            ConsistentRead: true,
            ProjectionExpression: 'PK, SK, #v, #d, #n',
            ExpressionAttributeNames: { '#v': 'version', '#d': 'date', '#n': 'needsReplication' },
          },
        ]),
      );
      for (let round = 1; Object.keys(request).length > 0; round++) {
        if (round > UNPROCESSED_ROUNDS)
          throw new RetriableError(
            'demand-table BatchGetItem left keys unprocessed (throttled); not validating',
          );
        let res: BatchGetItemCommandOutput;
        try {
          res = await this.client.send(new BatchGetItemCommand({ RequestItems: request }));
        } catch (err) {
          throw wrap('reading the current demand-table items failed', err);
        }
        for (const [table, items] of Object.entries(res.Responses ?? {})) {
          for (const item of items) {
            const gid = item.PK?.S?.slice('fan:'.length) ?? '';
            const cid = item.SK?.S?.slice('entry#'.length) ?? '';
            out.set(refKey({ table, globalUserId: gid, campaignId: cid }), toCurrent(item));
          }
        }
        request = res.UnprocessedKeys ?? {};
        if (Object.keys(request).length > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** round));
      }
    }
    return out;
  }

  async unflag(ref: EntryRef, version: number, updated: string | null): Promise<UnflagResult> {
    const values: Record<string, AttributeValue> = {
      ':f': { BOOL: false },
      ':t': { BOOL: true },
      ':v': { N: String(version) },
    };
    let condition = '#v = :v AND #n = :t';
    const names: Record<string, string> = { '#v': 'version', '#n': 'needsReplication' };
    if (updated !== null) {
      condition += ' AND #d.#u = :u';
      names['#d'] = 'date';
      names['#u'] = 'updated';
      values[':u'] = { S: updated };
    }
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: ref.table,
          Key: keyOf(ref),
          UpdateExpression: 'SET #n = :f',
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return 'unflagged';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return 'changed';
      throw wrap('unflagging needsReplication failed', err);
    }
  }
}

export const demandItems = defineResource<DemandItems>({
  name: 'demand-items',
  open: async ({ use }) => new DynamoDemandItems(await use(dynamodb)),
});
