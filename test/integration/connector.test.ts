import { execFile } from 'node:child_process';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { DeleteTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import type { Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.ts';
import {
  type ConnectorOptions,
  type RunningConnector,
  runConnector,
} from '../../connectors/dynamodb-streams/connector.ts';
import { FakeStream, fakeRecord } from '../../connectors/dynamodb-streams/fake-stream.ts';
import { acceptRestartedLocalStream } from '../../connectors/dynamodb-streams/operator.ts';
import { runSnapshot } from '../../connectors/dynamodb-streams/snapshot.ts';
import { createDynamoDb } from '../../lib/clients.ts';
import { createLogger } from '../../lib/logger.ts';
import { waitFor } from '../../lib/retry.ts';
import { connectorPastClose } from '../../selection/trigger.ts';
import {
  type ConnectorSetup,
  changesByKey,
  createConnectorSetup,
  createDemandTable,
  DemandWriter,
  readChanges,
  spawnConnector,
  watchCheckpoints,
} from '../connector-harness.ts';
import { codec, type EchoProcess, kafka } from '../runtime-harness.ts';
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

async function start(s: ConnectorSetup, extra: Partial<ConnectorOptions> = {}): Promise<RunningConnector> {
  const c = await runConnector({
    config: testConfig,
    table: s.table,
    name: s.name,
    topics: { changes: s.changes, checkpoints: s.checkpoints },
    leaseTtlMs: 3_000,
    pollIntervalMs: 100,
    logger: createLogger('warn'),
    ...extra,
  });
  inProcess.push(c);
  return c;
}

/** The test's config with its table as the configured one (REGFLOW_DEMAND_TABLE). */
const configuredFor = (s: ConnectorSetup) => ({
  ...testConfig,
  dynamodb: { ...testConfig.dynamodb, demandTable: s.table },
});

function spawn(s: ConnectorSetup, env: Record<string, string> = {}): EchoProcess {
  const p = spawnConnector(s, env);
  children.push(p);
  return p;
}

/** Runs a command line as printed for an operator (`npx regflow …`), with this environment added. */
function runPrinted(
  command: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [npx, bin, ...args] = command.split(' ');
  expect([npx, bin]).toEqual(['npx', 'regflow']);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'bin/regflow.js'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, REGFLOW_LOG_LEVEL: 'warn', ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs the regflow CLI as an operator would, on the test's table and topics. */
function regflow(
  s: ConnectorSetup,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const target = [
    '--table',
    s.table,
    '--name',
    s.name,
    '--changes-topic',
    s.changes,
    '--checkpoints-topic',
    s.checkpoints,
  ];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'bin/regflow.js'), 'connector', ...args, ...target],
      { cwd: REPO_ROOT, env: { ...process.env, REGFLOW_LOG_LEVEL: 'warn' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const metricsOf = async (port: unknown) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

/** A TCP proxy to the DynamoDB endpoint that can go down (connections refused and cut) and come back. */
async function flakyProxy(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let listenPort = 0;
  const open = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = netConnect(Number(port), hostname);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('error', () => {});
          sock.on('close', () => {
            sockets.delete(sock);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(listenPort, '127.0.0.1', () => {
        listenPort = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  await open();
  return {
    endpoint: `http://127.0.0.1:${listenPort}`,
    open,
    async down() {
      await new Promise<void>((resolve) => {
        server?.close(() => resolve());
        for (const sock of sockets) sock.destroy();
      });
    },
  };
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
  }, 120_000);

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
  }, 120_000);

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
    // A lease long enough that a loaded machine never lets it lapse while the leader lives.
    const a = spawn(s, { FIXTURE_LEASE_MS: '6000' });
    await a.waitForEvent('leading');
    const b = spawn(s, { FIXTURE_LEASE_MS: '6000' });
    const { httpPort: bPort } = (await b.waitForEvent('standby')) && (await b.waitForEvent('started'));
    for (let i = 0; i < 30; i++) await writer.put(`fan:${i % 5}`, `asu#camp-${i}`);
    await readChanges(s.changes, 30, { settleMs: 1_000 });

    const bMetrics = await (await fetch(`http://127.0.0.1:${bPort}/metrics`)).text();
    expect(bMetrics).toMatch(/regflow_connector_leader\{[^}]*\} 0/);
    expect(bMetrics).not.toMatch(/regflow_records_out_total\{/);
    expect(bMetrics).not.toMatch(/regflow_transactions_total\{/);
    expect(b.output()).not.toContain('"event":"leading"');

    a.child.kill('SIGKILL');
    await b.waitForEvent('leading', 30_000);
    for (let i = 0; i < 30; i++) await writer.update(`fan:${i % 5}`, `asu#camp-${i}`);
    const changes = await readChanges(s.changes, 60, { settleMs: 2_000 });
    expect(changes).toHaveLength(60);
    expectExactlyOnceInOrder(changes, writer);
  }, 120_000);

  it('fences a zombie: a leader frozen past its lease cannot commit once the standby took over', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    const zombie = spawn(s, { FIXTURE_FAULT: 'stop-before-commit:1' });
    await zombie.waitForEvent('leading');
    const standby = spawn(s);
    await standby.waitForEvent('standby');
    for (let i = 0; i < 10; i++) await writer.put(`fan:${i % 3}`, `asu#${i}`);
    await zombie.waitForEvent('stop-before-commit');
    for (let i = 0; i < 10; i++) await writer.update(`fan:${i % 3}`, `asu#${i}`);
    await standby.waitForEvent('leading', 30_000);
    await readChanges(s.changes, writer.total, { settleMs: 500 });

    // Woken up, the zombie tries to commit the transaction it had in hand: the broker refuses it.
    zombie.child.kill('SIGCONT');
    await zombie.waitForEvent('standby', 30_000);
    expect(zombie.output()).toContain('fenced by another instance of this connector');
    for (let i = 0; i < 10; i += 3) await writer.remove(`fan:${i % 3}`, `asu#${i}`);
    const changes = await readChanges(s.changes, writer.total, { settleMs: 2_500 });
    expect(changes).toHaveLength(writer.total);
    expectExactlyOnceInOrder(changes, writer);
  }, 120_000);

  it('snapshots the items that existed before the stream, exactly once per snapshot id, even after a crash', async () => {
    const s = await createConnectorSetup(admin, dynamo, { stream: false });
    const writer = new DemandWriter(dynamo, s.table);
    for (let i = 0; i < 25; i++) await writer.put(`fan:${i}`, 'asu#camp-1-LA');
    await dynamo.send(
      new UpdateTableCommand({
        TableName: s.table,
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    );

    const first = await regflow(s, ['snapshot', '--page-size', '10']);
    expect(first.stdout).toContain('25 items emitted in 3 pages');
    const again = await regflow(s, ['snapshot', '--page-size', '10']);
    expect([again.code, again.stdout]).toEqual([0, expect.stringContaining('already complete (25 items)')]);

    // A second snapshot that crashes after its first committed page resumes after it.
    const target = {
      table: s.table,
      name: s.name,
      topics: { changes: s.changes, checkpoints: s.checkpoints },
    };
    const quiet = createLogger('silent');
    await expect(
      runSnapshot({ config, ...target, snapshotId: 'again', pageSize: 10, failAfterPages: 1, logger: quiet }),
    ).rejects.toThrow(/interrupted after 1 pages/);
    const resumed = await runSnapshot({
      config,
      ...target,
      snapshotId: 'again',
      pageSize: 10,
      logger: quiet,
    });
    expect([resumed.emittedNow, resumed.itemsEmitted]).toEqual([15, 25]);

    await start(s);
    await writer.update('fan:3', 'asu#camp-1-LA');
    const changes = await readChanges(s.changes, 51, { settleMs: 2_000 });
    expect(changes).toHaveLength(51);
    const snapshots = changes.filter((c) => c.value.source === 'SNAPSHOT');
    expect(snapshots.every((c) => c.value.op === 'INSERT' && c.value.oldImage === null)).toBe(true);
    for (const id of ['initial', 'again']) {
      const keys = snapshots.filter((c) => c.value.eventId.startsWith(`snapshot:${id}:`)).map((c) => c.key);
      expect(keys.sort()).toEqual([...writer.written.keys()].sort());
    }
    const streamed = changes.filter((c) => c.value.source === 'STREAM');
    expect(streamed.map((c) => [c.key, c.value.op, JSON.parse(c.value.newImage!).v])).toEqual([
      ['fan:3|asu#camp-1-LA', 'MODIFY', 2],
    ]);
  }, 120_000);

  it("moves an idle shard's checkpoint past a close within seconds, without a commit per poll", async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    for (let i = 0; i < 3; i++) await writer.put(`fan:${i}`, 'asu#camp-1-LA');
    // Polls every 100 ms; the 5-minute refresh of every checkpoint never comes in this test.
    await start(s, { idleRefreshMs: 1_000, checkpointRefreshMs: 300_000 });
    await readChanges(s.changes, 3, { settleMs: 200 });

    const watch = await watchCheckpoints(s.checkpoints);
    try {
      // `regflow select`'s question, asked from the close on: has the connector read past it?
      const closedAt = new Date();
      let answer = { ok: false, detail: 'not asked' };
      const past = await waitFor(
        async () => {
          answer = await connectorPastClose(kafka, admin, codec, s.checkpoints, s.connectorId, closedAt);
          return answer.ok;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      expect(past, answer.detail).toBe(true);
      // How soon the connector wrote it (the question's own cost, a consumer group of its own
      // reading the topic, is not the connector's): about the idle refresh (1 s here; a loaded
      // machine stretches a round to a few), not the 5 minutes of the full refresh.
      const firstAfterClose = () =>
        watch.records().find((r) => (r.value?.updatedAt ?? 0) > closedAt.getTime());
      expect(
        await waitFor(async () => firstAfterClose() !== undefined, { timeoutMs: 10_000, intervalMs: 50 }),
      ).toBe(true);
      expect(firstAfterClose()!.value!.updatedAt - closedAt.getTime()).toBeLessThan(10_000);

      // Cheap while idle: about one checkpoint per second (the idle refresh), not one per poll.
      const from = Date.now();
      await new Promise((r) => setTimeout(r, 4_000));
      const written = watch.records().filter((r) => (r.value?.updatedAt ?? 0) >= from);
      expect(written.length).toBeGreaterThanOrEqual(2);
      expect(written.length).toBeLessThanOrEqual(6);
      // Only the time moves: the position stays after the last change, nothing is emitted again.
      const last = watch.shards(s.connectorId);
      expect([...last.values()].every((c) => c.sequenceNumber !== null && !c.finished)).toBe(true);
    } finally {
      await watch.stop();
    }
    expect(await readChanges(s.changes, 3, { settleMs: 500 })).toHaveLength(3);
  }, 120_000);

  it('moves a checkpoint past a close only once every record written before the close is in Kafka', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    // 1,500 changes before the close: two GetRecords pages (1,000 a page), two transactions.
    const stream = new FakeStream();
    const records = Array.from({ length: 1_500 }, (_, i) => fakeRecord(`fan:${i % 50}`, `asu#camp-${i}`));
    stream.shards.push({
      shardId: 'shardId-A',
      startingSequenceNumber: records[0]!.dynamodb!.SequenceNumber!,
      records,
    });
    await new Promise((r) => setTimeout(r, 5));
    const closedAt = new Date();
    await new Promise((r) => setTimeout(r, 5));

    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let withRecords = 0;
    let holding = false;
    inProcess.push(
      await runConnector({
        config: testConfig,
        table: s.table,
        name: s.name,
        topics: { changes: s.changes, checkpoints: s.checkpoints },
        leaseTtlMs: 3_000,
        pollIntervalMs: 50,
        streamsApi: stream,
        logger: createLogger('warn'),
        // The second transaction with records waits: the first page is in Kafka, the rest is not.
        faults: {
          beforeCommit: async ({ records: n }) => {
            if (n === 0 || ++withRecords !== 2) return;
            holding = true;
            await held;
          },
        },
      }),
    );
    const pastClose = () => connectorPastClose(kafka, admin, codec, s.checkpoints, s.connectorId, closedAt);
    try {
      expect(await waitFor(async () => holding, { timeoutMs: 60_000, intervalMs: 50 })).toBe(true);
      const during = await pastClose();
      expect(during.ok, `${during.detail} while 500 changes from before the close were unread`).toBe(false);
    } finally {
      release();
    }
    expect(await waitFor(async () => (await pastClose()).ok, { timeoutMs: 30_000, intervalMs: 200 })).toBe(
      true,
    );
    expect(await readChanges(s.changes, 1_500, { settleMs: 500 })).toHaveLength(1_500);
  }, 120_000);

  /**
   * A connector on a table of its own (the configured one: no table named) that forwarded one
   * change and stopped, as before the DynamoDB server restarts: the setup, a writer, the options.
   */
  async function oneChangeForwarded() {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    await writer.put('fan:1', 'asu#camp-1-LA');
    const options = {
      config: configuredFor(s),
      name: s.name,
      topics: { changes: s.changes, checkpoints: s.checkpoints },
      leaseTtlMs: 3_000,
      pollIntervalMs: 100,
      haltRecheckMs: 1_000,
      logger: createLogger('silent'),
    };
    const first = await runConnector(options);
    inProcess.push(first);
    await readChanges(s.changes, 1, { settleMs: 200 });
    await first.stop();
    return { s, writer, options };
  }

  it('halts visibly when the table was re-created (STREAM_CHANGED): /readyz gives the reason and the remedy, which works', async () => {
    const { s, writer, options } = await oneChangeForwarded();

    // As after `npm run infra -- down` / `up`: the DynamoDB server forgot the table (the API
    // creates it again, with a new stream), Kafka kept the checkpoints of the old stream.
    await dynamo.send(new DeleteTableCommand({ TableName: s.table }));
    await createDemandTable(dynamo, s.table);
    const second = await runConnector(options);
    inProcess.push(second);
    expect(
      await waitFor(async () => second.state() === 'halted', { timeoutMs: 30_000, intervalMs: 100 }),
    ).toBe(true);
    const res = await fetch(`http://127.0.0.1:${second.httpPort}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({ status: 'not ready', state: 'halted' });
    expect(body.reason).toMatch(/^\[STREAM_CHANGED\] the table's stream is now arn:/);
    // The names an operator's `regflow connector reset` would not assume by itself; not the table,
    // which it takes from the same config.
    expect(body.remedy).toBe(
      `npx regflow connector reset --accept-gap --name ${s.name} --changes-topic ${s.changes} --checkpoints-topic ${s.checkpoints}`,
    );

    // The remedy, run as printed (with the same configuration), lets the connector go on.
    const reset = await runPrinted(body.remedy!, { REGFLOW_DEMAND_TABLE: s.table });
    expect([reset.code, reset.stdout], reset.stderr).toEqual([
      0,
      expect.stringContaining('GAP [STREAM_CHANGED]'),
    ]);
    expect(
      await waitFor(async () => second.state() === 'leading', { timeoutMs: 30_000, intervalMs: 100 }),
    ).toBe(true);
    await writer.put('fan:2', 'asu#camp-1-LA');
    const changes = await readChanges(s.changes, 2, { settleMs: 1_000 });
    expect(changes.map((c) => c.key).sort()).toEqual(['fan:1|asu#camp-1-LA', 'fan:2|asu#camp-1-LA']);
    expect((await fetch(`http://127.0.0.1:${second.httpPort}/readyz`)).status).toBe(200);
  }, 120_000);

  it('after its local DynamoDB restarted (npm start, the demo), accepts only the re-created stream, and the connector reads on', async () => {
    const { s, writer, options } = await oneChangeForwarded();
    const operator = { config: options.config, name: s.name, topics: options.topics };
    const said: string[] = [];
    // Nothing to accept while the stream is the one the checkpoints belong to.
    expect(await acceptRestartedLocalStream(operator, (l) => said.push(l))).toBe(false);

    // moto restarted: the table is gone (the function creates it again, with a new stream).
    await dynamo.send(new DeleteTableCommand({ TableName: s.table }));
    expect(await acceptRestartedLocalStream(operator, (l) => said.push(l))).toBe(true);
    expect(said).toEqual([expect.stringContaining(`table ${s.table} has a new stream`)]);
    const second = await runConnector(options);
    inProcess.push(second);
    await writer.put('fan:2', 'asu#camp-1-LA');
    const changes = await readChanges(s.changes, 2, { settleMs: 1_000 });
    expect(changes.map((c) => c.key).sort()).toEqual(['fan:1|asu#camp-1-LA', 'fan:2|asu#camp-1-LA']);
    expect(second.state()).toBe('leading');
  }, 120_000);

  it('halts loudly on a checkpoint older than the stream retention, and continues once an operator accepts the gap', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    const env = { FIXTURE_RETENTION_MS: '6000', FIXTURE_REFRESH_MS: '1000', FIXTURE_HALT_RECHECK_MS: '1000' };
    const retention = ['--retention-ms', '6000'];
    for (let i = 0; i < 5; i++) await writer.put(`fan:${i}`, 'asu#camp-1-LA');
    const first = spawn(s, env);
    await readChanges(s.changes, 5, { settleMs: 2_000 });
    await first.stop();
    // Down for longer than the retention: records written meanwhile could have been trimmed.
    await new Promise((r) => setTimeout(r, 7_000));
    for (let i = 5; i < 8; i++) await writer.put(`fan:${i}`, 'asu#camp-1-LA');

    const second = spawn(s, env);
    const { httpPort } = await second.waitForEvent('started');
    await second.waitForEvent('halted');
    expect(second.output()).toContain('possible loss of change records');
    const metrics = await metricsOf(httpPort);
    expect(metrics).toMatch(/regflow_connector_halted\{[^}]*\} 1/);
    expect(metrics).toMatch(/regflow_connector_trimmed_data_errors_total\{[^}]*kind="STALE"[^}]*\} [1-9]/);
    expect((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status).toBe(503);

    const status = await regflow(s, ['status', ...retention]);
    expect([status.code, status.stdout]).toEqual([2, expect.stringContaining('GAP [STALE]')]);
    const dryRun = await regflow(s, ['reset', ...retention]);
    expect([dryRun.code, dryRun.stdout]).toEqual([2, expect.stringContaining('run again with --accept-gap')]);
    expect(await readChanges(s.changes, 5, { settleMs: 1_000 })).toHaveLength(5);

    const accepted = await regflow(s, ['reset', '--accept-gap', ...retention]);
    expect([accepted.code, accepted.stdout]).toEqual([0, expect.stringContaining('accepted')]);
    const changes = await readChanges(s.changes, 8, { settleMs: 2_000 });
    expect(changes).toHaveLength(8);
    expectExactlyOnceInOrder(changes, writer);
    const after = await regflow(s, ['status']);
    expect([after.code, after.stdout]).toEqual([0, expect.stringMatching(/reading\s+no\s+\d+/)]);
  }, 120_000);

  /**
   * moto keeps one open shard per table and never closes or splits it (its GetRecords always hands
   * out a next iterator): the stream here is the in-memory one shaped like DynamoDB's, while Kafka,
   * the registry and Redis are real. A closed parent A split into B (closed) and C (open); B rolled
   * over into D.
   */
  function lineageStream() {
    const stream = new FakeStream();
    const a = [fakeRecord('fan:1', 'x'), fakeRecord('fan:2', 'x'), fakeRecord('fan:1', 'x', 'MODIFY')];
    const b = [fakeRecord('fan:1', 'x', 'MODIFY'), fakeRecord('fan:3', 'x')];
    const c = [fakeRecord('fan:2', 'x', 'MODIFY'), fakeRecord('fan:4', 'x')];
    const d = [fakeRecord('fan:1', 'x', 'REMOVE')];
    stream.shards.push(
      {
        shardId: 'shardId-A',
        startingSequenceNumber: seqOf(a[0]!),
        endingSequenceNumber: seqOf(a[2]!),
        records: a,
      },
      {
        shardId: 'shardId-B',
        parentShardId: 'shardId-A',
        startingSequenceNumber: seqOf(b[0]!),
        endingSequenceNumber: seqOf(b[1]!),
        records: b,
      },
      { shardId: 'shardId-C', parentShardId: 'shardId-A', startingSequenceNumber: seqOf(c[0]!), records: c },
      { shardId: 'shardId-D', parentShardId: 'shardId-B', startingSequenceNumber: seqOf(d[0]!), records: d },
    );
    // C splits into E and F later on; E gets a change of fan:2.
    const e = [fakeRecord('fan:2', 'x', 'REMOVE')];
    const f = [fakeRecord('fan:5', 'x')];
    const children = [
      { shardId: 'shardId-E', parentShardId: 'shardId-C', startingSequenceNumber: seqOf(e[0]!), records: e },
      { shardId: 'shardId-F', parentShardId: 'shardId-C', startingSequenceNumber: seqOf(f[0]!), records: f },
    ];
    return { stream, a, b, c, d, e, f, children };
  }
  const seqOf = (r: ReturnType<typeof fakeRecord>) => r.dynamodb!.SequenceNumber!;

  async function startOnStream(s: ConnectorSetup, stream: FakeStream): Promise<RunningConnector> {
    const connector = await runConnector({
      config: testConfig,
      table: s.table,
      name: s.name,
      topics: { changes: s.changes, checkpoints: s.checkpoints },
      leaseTtlMs: 3_000,
      pollIntervalMs: 50,
      describeIntervalMs: 500,
      streamsApi: stream,
      logger: createLogger('warn'),
    });
    inProcess.push(connector);
    return connector;
  }

  it('follows real DynamoDB shard lineage (rollover, split, new shards later): parents first, per-key order kept', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const { stream, children } = lineageStream();
    await startOnStream(s, stream);
    const firstWave = await readChanges(s.changes, 8, { settleMs: 500 });
    expect(firstWave).toHaveLength(8);

    stream.split('shardId-C', children, 'GetRecords');
    const changes = await readChanges(s.changes, 10, { settleMs: 1_500 });
    expect(changes).toHaveLength(10);
    const byKey = new Map<string, string[]>();
    for (const ch of changes)
      byKey.set(ch.key!, [...(byKey.get(ch.key!) ?? []), `${ch.value.shardId}:${ch.value.op}`]);
    expect(Object.fromEntries(byKey)).toEqual({
      'fan:1|x': ['shardId-A:INSERT', 'shardId-A:MODIFY', 'shardId-B:MODIFY', 'shardId-D:REMOVE'],
      'fan:2|x': ['shardId-A:INSERT', 'shardId-C:MODIFY', 'shardId-E:REMOVE'],
      'fan:3|x': ['shardId-B:INSERT'],
      'fan:4|x': ['shardId-C:INSERT'],
      'fan:5|x': ['shardId-F:INSERT'],
    });
  }, 120_000);

  // DynamoDB gives no order between DescribeStream listing a split parent closed and GetRecords
  // ending its iterator. When DescribeStream came first, the plan counted the parent done (its
  // checkpoint at the EndingSequenceNumber), stopped reading it, and its checkpoint stayed
  // `finished: false` for good (a false SHARD_GONE gap once it left the stream). Both orders:
  it.each(['DescribeStream', 'GetRecords'] as const)(
    'checkpoints a split parent shard as finished once its records are delivered, before its children (split seen first by %s)',
    async (firstSeenBy) => {
      const s = await createConnectorSetup(admin, dynamo);
      const { stream, a, b, c, d, e, f, children } = lineageStream();
      const watch = await watchCheckpoints(s.checkpoints);
      try {
        await startOnStream(s, stream);
        // Every record of the open C is delivered (and checkpointed in the same transaction).
        expect(await readChanges(s.changes, 8, { settleMs: 0 })).toHaveLength(8);
        stream.split('shardId-C', children, firstSeenBy);

        const expected = [
          ['shardId-A', true, seqOf(a[2]!)],
          ['shardId-B', true, seqOf(b[1]!)],
          ['shardId-C', true, seqOf(c[1]!)],
          ['shardId-D', false, seqOf(d[0]!)],
          ['shardId-E', false, seqOf(e[0]!)],
          ['shardId-F', false, seqOf(f[0]!)],
        ];
        const state = () =>
          [...watch.shards(s.connectorId).values()]
            .map((cp) => [cp.shardId, cp.finished, cp.sequenceNumber])
            .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
        await waitFor(async () => JSON.stringify(state()) === JSON.stringify(expected), {
          timeoutMs: 30_000,
          intervalMs: 100,
        });
        expect(state()).toEqual(expected);

        // In the log, C's finished mark comes before any checkpoint of its children.
        const log = watch.records();
        const at = (shardId: string, finished?: boolean) =>
          log.findIndex(
            (r) => r.value?.shardId === shardId && (finished === undefined || r.value.finished === finished),
          );
        expect(at('shardId-C', true)).toBeGreaterThanOrEqual(0);
        expect(at('shardId-C', true)).toBeLessThan(Math.min(at('shardId-E'), at('shardId-F')));
        expect(await readChanges(s.changes, 10, { settleMs: 500 })).toHaveLength(10);
      } finally {
        await watch.stop();
      }
    },
    120_000,
  );

  it('rides out the DynamoDB endpoint going away (connections refused and cut) and comes back exactly once', async () => {
    const s = await createConnectorSetup(admin, dynamo);
    const writer = new DemandWriter(dynamo, s.table);
    const proxy = await flakyProxy(config.dynamodb.endpoint);
    const connector = await runConnector({
      config: { ...testConfig, dynamodb: { ...testConfig.dynamodb, endpoint: proxy.endpoint } },
      table: s.table,
      name: s.name,
      topics: { changes: s.changes, checkpoints: s.checkpoints },
      leaseTtlMs: 3_000,
      pollIntervalMs: 100,
      logger: createLogger('silent'),
    });
    inProcess.push(connector);
    for (let i = 0; i < 10; i++) await writer.put(`fan:${i % 3}`, `asu#${i}`);
    await readChanges(s.changes, 10, { settleMs: 200 });

    await proxy.down();
    for (let i = 0; i < 10; i++) await writer.update(`fan:${i % 3}`, `asu#${i}`);
    await new Promise((r) => setTimeout(r, 4_000));
    const during = await metricsOf(connector.httpPort);
    expect(during).toMatch(/regflow_connector_stream_errors_total\{[^}]*\} [1-9]/);
    await proxy.open();
    for (let i = 0; i < 10; i += 2) await writer.remove(`fan:${i % 3}`, `asu#${i}`);

    const changes = await readChanges(s.changes, writer.total, { settleMs: 2_000, timeoutMs: 60_000 });
    expect(changes).toHaveLength(writer.total);
    expectExactlyOnceInOrder(changes, writer);
    await proxy.down();
  }, 120_000);
});
