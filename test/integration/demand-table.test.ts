import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoDb } from '../../lib/clients.ts';
import { DemandTable, entryKey, reminderKey } from '../../stores/demand-table.ts';
import { config, uniqueName } from '../support.ts';

// The demand table on moto: created idempotently with its stream, versions that only grow.

const dynamo = createDynamoDb(config.dynamodb);
const tables: string[] = [];

afterAll(async () => {
  for (const TableName of tables) await dynamo.send(new DeleteTableCommand({ TableName })).catch(() => {});
  dynamo.destroy();
});

const entry = {
  email: 'a@example.com',
  locale: 'en-US',
  markets: ['nyc'],
  marketing: { emailOptIn: false, smsOptIn: false },
};

describe('demand table', () => {
  it('is created with a NEW_AND_OLD_IMAGES stream, idempotently; an existing table without a stream gets one', async () => {
    const name = uniqueName('demand-create');
    tables.push(name);
    const table = new DemandTable(dynamo, name);
    await table.ensureTable();
    await table.ensureTable();
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(Table?.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`)).toEqual(['PK:HASH', 'SK:RANGE']);

    const bare = uniqueName('demand-bare');
    tables.push(bare);
    await dynamo.send(
      new CreateTableCommand({
        TableName: bare,
        AttributeDefinitions: [
          { AttributeName: 'PK', AttributeType: 'S' },
          { AttributeName: 'SK', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'PK', KeyType: 'HASH' },
          { AttributeName: 'SK', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await new DemandTable(dynamo, bare).ensureTable();
    const after = await dynamo.send(new DescribeTableCommand({ TableName: bare }));
    expect(after.Table?.StreamSpecification?.StreamEnabled).toBe(true);
  });

  it('keys entries and reminders of a fan in one partition', () => {
    expect(entryKey('u1', 'c1')).toEqual({ PK: 'fan:u1', SK: 'entry#c1' });
    expect(reminderKey('u1', 'c1', 'nyc')).toEqual({ PK: 'fan:u1', SK: 'asu#c1-nyc#reminder' });
  });

  it('gives every write of an entry a higher version, also when the stored one is ahead of the clock, and across re-registration', async () => {
    const name = uniqueName('demand-version');
    tables.push(name);
    const table = new DemandTable(dynamo, name);
    await table.ensureTable();

    const concurrent = await Promise.all(Array.from({ length: 5 }, () => table.putEntry('u1', 'c1', entry)));
    const versions = concurrent.map((e) => e.version);
    expect(new Set(versions).size).toBe(5);
    const stored = await table.getEntry('u1', 'c1');
    expect(stored?.version).toBe(Math.max(...versions));

    // a stored version far ahead (another writer's clock ahead of ours): the next write goes above it
    const ahead = (Date.now() + 3_600_000) * 1000;
    await dynamo.send(
      new PutItemCommand({
        TableName: name,
        Item: { PK: { S: 'fan:u2' }, SK: { S: 'entry#c1' }, version: { N: String(ahead) } },
      }),
    );
    const next = await table.putEntry('u2', 'c1', entry);
    expect(next.version).toBe(ahead + 1);
    expect((await table.getEntry('u2', 'c1'))?.version).toBe(ahead + 1);

    // withdraw and register again: the new item's version is above the withdrawn one's
    const withdrawn = await table.deleteEntry('u1', 'c1');
    expect(withdrawn?.version).toBe(stored?.version);
    const again = await table.putEntry('u1', 'c1', entry);
    expect(again.version).toBeGreaterThan(withdrawn!.version);
    expect(await table.deleteEntry('nobody', 'c1')).toBeUndefined();
  });
});
