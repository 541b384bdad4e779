import type { Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConnector, runConnector } from '../../connectors/dynamodb-streams/connector.ts';
import { createDynamoDb } from '../../lib/clients.ts';
import { createLogger } from '../../lib/logger.ts';
import {
  type ConnectorSetup,
  changesByKey,
  createConnectorSetup,
  DemandWriter,
  readChanges,
  spawnConnector,
} from '../connector-harness.ts';
import { type EchoProcess, kafka } from '../runtime-harness.ts';
import { config } from '../support.ts';

// The DynamoDB Streams connector against the real moto DynamoDB + Streams, Kafka and registry.
// Every test has its own table, topics and connector name (hence transactional id and lease).

const dynamo = createDynamoDb(config.dynamodb);
let admin: Admin;
const inProcess: RunningConnector[] = [];
const children: EchoProcess[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterEach(async () => {
  await Promise.all([
    ...inProcess.splice(0).map((c) => c.stop()),
    ...children.splice(0).map((c) => c.stop()),
  ]);
});
afterAll(async () => {
  await admin.disconnect();
  dynamo.destroy();
});

const testConfig = { ...config, runtime: { ...config.runtime, httpPort: 0 } };

async function start(s: ConnectorSetup): Promise<RunningConnector> {
  const c = await runConnector({
    config: testConfig,
    table: s.table,
    name: s.name,
    topics: { changes: s.changes, checkpoints: s.checkpoints },
    leaseTtlMs: 3_000,
    pollIntervalMs: 100,
    logger: createLogger('warn'),
  });
  inProcess.push(c);
  return c;
}

function spawn(s: ConnectorSetup, env: Record<string, string> = {}): EchoProcess {
  const p = spawnConnector(s, env);
  children.push(p);
  return p;
}

/** Every change of every key exactly once, in the order written. */
function expectExactlyOnceInOrder(changes: Awaited<ReturnType<typeof readChanges>>, writer: DemandWriter) {
  const got = changesByKey(changes);
  expect([...got.keys()].sort()).toEqual([...writer.written.keys()].sort());
  for (const [key, written] of writer.written)
    expect({ key, changes: got.get(key) }).toEqual({ key, changes: written });
  expect(new Set(changes.map((c) => c.value.eventId)).size).toBe(changes.length);
}

describe('DynamoDB Streams connector', () => {
  it('carries INSERT, MODIFY and REMOVE to Kafka in order per key, with old and new images', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    for (let fan = 0; fan < 5; fan++)
      await writer.put(`fan:${fan}`, 'asu#camp-1-LA', { email: `f${fan}@x.test` });
    const connector = await start(s);
    for (let fan = 0; fan < 5; fan++) await writer.update(`fan:${fan}`, 'asu#camp-1-LA');
    for (let fan = 0; fan < 5; fan += 2) await writer.remove(`fan:${fan}`, 'asu#camp-1-LA');

    const changes = await readChanges(s.changes, writer.total);
    expect(changes).toHaveLength(13);
    expectExactlyOnceInOrder(changes, writer);

    const fan0 = changes.filter((c) => c.key === 'fan:0|asu#camp-1-LA').map((c) => c.value);
    expect(fan0.map((c) => c.op)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    expect(fan0[0]).toMatchObject({ table: s.table, oldImage: null, source: 'STREAM' });
    expect(JSON.parse(fan0[0]!.newImage!)).toEqual({
      PK: 'fan:0',
      SK: 'asu#camp-1-LA',
      v: 1,
      needsReplication: true,
      email: 'f0@x.test',
    });
    expect(JSON.parse(fan0[1]!.oldImage!).v).toBe(1);
    expect(JSON.parse(fan0[1]!.newImage!).v).toBe(2);
    expect(fan0[2]!.newImage).toBeNull();
    expect(JSON.parse(fan0[2]!.oldImage!).v).toBe(2);
    expect(fan0[0]!.keys).toEqual({ PK: '"fan:0"', SK: '"asu#camp-1-LA"' });
    expect(BigInt(fan0[1]!.sequenceNumber!)).toBeGreaterThan(BigInt(fan0[0]!.sequenceNumber!));

    const metrics = await (await fetch(`http://127.0.0.1:${connector.httpPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`regflow_records_out_total\\{topic="${s.changes}"[^}]*\\} 13`));
    expect(metrics).toMatch(/regflow_connector_leader\{[^}]*\} 1/);
    expect(metrics).toMatch(/regflow_connector_shard_lag_seconds\{/);
    expect((await fetch(`http://127.0.0.1:${connector.httpPort}/readyz`)).status).toBe(200);
  });

  it('resumes after a restart from the last committed checkpoint: no duplicate, no gap', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    for (let i = 0; i < 20; i++) await writer.put(`fan:${i % 4}`, `asu#camp-${i}`);
    const first = await start(s);
    await readChanges(s.changes, 20, { settleMs: 200 });
    await first.stop();
    expect(first.state()).toBe('stopped');

    for (let i = 0; i < 20; i++) await writer.update(`fan:${i % 4}`, `asu#camp-${i}`);
    await start(s);
    for (let i = 0; i < 20; i += 3) await writer.remove(`fan:${i % 4}`, `asu#camp-${i}`);
    const changes = await readChanges(s.changes, writer.total, { settleMs: 2_500 });
    expect(changes).toHaveLength(writer.total);
    expectExactlyOnceInOrder(changes, writer);
  });

  it('delivers every change exactly once, in order, across repeated kill -9 while writes continue', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing || i < 60; i++) {
        const fan = `fan:${i % 12}`;
        if (i % 7 === 6) await writer.remove(fan, 'asu#camp-1-NYC');
        else await writer.put(fan, 'asu#camp-1-NYC');
        await new Promise((r) => setTimeout(r, 15));
      }
    })();

    // A crash between sending records and committing, then crashes at arbitrary moments.
    const crash = spawn(s, { FIXTURE_FAULT: 'kill-before-commit:2' });
    await crash.waitForEvent('kill-before-commit');
    expect((await crash.exited).signal).toBe('SIGKILL');
    for (let round = 0; round < 3; round++) {
      const victim = spawn(s);
      await victim.waitForEvent('leading');
      await new Promise((r) => setTimeout(r, 700 + 400 * round));
      victim.child.kill('SIGKILL');
      await victim.exited;
    }
    writing = false;
    await writes;
    await spawn(s).waitForEvent('leading');
    const changes = await readChanges(s.changes, writer.total, { settleMs: 3_000, timeoutMs: 90_000 });
    expect(writer.total).toBeGreaterThan(60);
    expectExactlyOnceInOrder(changes, writer);
    expect(changes).toHaveLength(writer.total);
  }, 180_000);

  it('keeps a second instance on standby, writing nothing, until the first dies; then it takes over', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    const a = spawn(s);
    await a.waitForEvent('leading');
    const b = spawn(s);
    const { httpPort: bPort } = (await b.waitForEvent('standby')) && (await b.waitForEvent('started'));
    for (let i = 0; i < 30; i++) await writer.put(`fan:${i % 5}`, `asu#camp-${i}`);
    await readChanges(s.changes, 30, { settleMs: 1_000 });

    const bMetrics = await (await fetch(`http://127.0.0.1:${bPort}/metrics`)).text();
    expect(bMetrics).toMatch(/regflow_connector_leader\{[^}]*\} 0/);
    expect(bMetrics).not.toMatch(/regflow_records_out_total\{/);
    expect(bMetrics).toMatch(/regflow_transactions_total\{[^}]*\} 0/);
    expect(b.output()).not.toContain('"event":"leading"');

    a.child.kill('SIGKILL');
    await b.waitForEvent('leading', 30_000);
    for (let i = 0; i < 30; i++) await writer.update(`fan:${i % 5}`, `asu#camp-${i}`);
    const changes = await readChanges(s.changes, 60, { settleMs: 2_000 });
    expect(changes).toHaveLength(60);
    expectExactlyOnceInOrder(changes, writer);
  });
});
