import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.ts';
import {
  connectorIdOf,
  shardCheckpointRecord,
  shardKeyOf,
} from '../../connectors/dynamodb-streams/checkpoints.ts';
import { DEFAULT_CONNECTOR_NAME, DEFAULT_TOPICS } from '../../connectors/dynamodb-streams/connector.ts';
import { createMongo } from '../../lib/clients.ts';
import { freePort } from '../../lib/ports.ts';
import { loadSchema } from '../../schemas/index.ts';
import { ensureTopics } from '../../topology/admin.ts';
import { allTopics } from '../../topology/describe.ts';
import { topology } from '../../topology/index.ts';
import { databaseUrl } from '../replication-harness.ts';
import { codec, kafka } from '../runtime-harness.ts';
import { config, uniqueName } from '../support.ts';

// `npm run demo` end to end at a small size, as a child process against the real services: a
// DynamoDB table, MongoDB database, Redis prefix, CRM bucket and API port of its own. The topics and
// consumer groups are the pipeline's own (the demo runs the real pipeline): the demo refuses to
// start, and this test fails saying so, while another pipeline (`npm start`) runs on the same broker.

const names = {
  table: uniqueName('demo-demand'),
  db: uniqueName('demo').replace(/-/g, '_'),
  bucket: uniqueName('demo-crm'),
  redis: `${uniqueName('demo')}:`,
};

// The table stays: changes of it may still wait on the pipeline's topics (a failed run), and the
// replicator validates each change against its table; a deleted one would fail them until the DLT.
afterAll(async () => {
  const mongo = createMongo(config.mongodb);
  await mongo.connect();
  await mongo
    .db(names.db)
    .dropDatabase()
    .catch(() => {});
  await mongo.close();
});

/** `npm run demo` as a child process with this environment; its exit code, its output and how long it ran. */
async function runDemo(
  env: NodeJS.ProcessEnv,
  args: string[],
  budgetMs: number,
): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'demo/cli.ts'), ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  // Past the budget, a SIGINT lets the demo stop its pipeline (its processes run detached).
  const guard = setTimeout(() => child.kill('SIGINT'), budgetMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(guard);
  return { code, out, ms: Date.now() - started };
}

/**
 * What `npm run infra -- down` / `up` leaves behind: Kafka still holds the connector's checkpoint
 * of a stream the DynamoDB server no longer has (here one of a table that never existed).
 */
async function leaveCheckpointOfAGoneStream(table: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, allTopics(topology));
  } finally {
    await admin.disconnect();
  }
  await codec.register(DEFAULT_TOPICS.checkpoints, loadSchema('connector-checkpoint'));
  const connectorId = connectorIdOf(DEFAULT_CONNECTOR_NAME, table);
  const checkpoint = {
    streamArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/stream/2020-01-01T00:00:00.000`,
    shardId: 'shardId-00000001600000000000-00000000',
    sequenceNumber: '100000000000000000001',
    finished: false,
    approximateCreationTime: Date.now() - 60_000,
    updatedAt: Date.now() - 60_000,
  };
  const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic: DEFAULT_TOPICS.checkpoints,
      acks: -1,
      messages: [
        {
          key: shardKeyOf(connectorId, checkpoint.shardId),
          value: await codec.encode(
            DEFAULT_TOPICS.checkpoints,
            shardCheckpointRecord(connectorId, table, checkpoint),
          ),
        },
      ],
    });
  } finally {
    await producer.disconnect();
  }
}

describe('npm run demo', () => {
  it('plays Scenarios 1-3 at 300 fans / 10 winners, prints the summary and exits 0', async () => {
    const env = {
      ...process.env,
      REGFLOW_DEMAND_TABLE: names.table,
      REGFLOW_MONGODB_URL: databaseUrl(config.mongodb.url, names.db),
      REGFLOW_CRM_BUCKET: names.bucket,
      REGFLOW_REDIS_PREFIX: names.redis,
      REGFLOW_API_PORT: String(await freePort()),
      REGFLOW_SELECTION_MIN_RESERVE: '10',
    };
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO_ROOT, 'demo/cli.ts'),
        '--fans',
        '300',
        '--winners',
        '10',
        '--speed',
        '900',
      ],
      { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // Past the budget, a SIGINT lets the demo stop its pipeline (its processes run detached).
    const guard = setTimeout(() => child.kill('SIGINT'), 280_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(guard);
    expect(out, out).toContain('result: PASS');
    expect(code, out).toBe(0);
    expect(out).toMatch(/expectations: \d+ met, 0 failed/);
    expect(out).toContain('dead letters during the run: 0 (expected 0)');
    for (const stage of [
      'registrations (HTTP API)',
      'replication caught up',
      'selection (regflow select)',
      'audit (regflow audit)',
      'notifications (simulated clock)',
    ])
      expect(out).toMatch(new RegExp(`Scenario 1\\s+${stage.replace(/[()]/g, '\\$&')}\\s+\\d+\\.\\d s`));
    expect(out).toContain('✓ Scenario 1: registrations answered 200 eligible — 300');
    expect(out).toContain('✓ Scenario 1: reminder records in DynamoDB (one per winner) — 10');
    expect(out).toContain('✓ Scenario 1: email export rows (one per winner) — 10');
    expect(out).toContain('✓ Scenario 2: Fan C (neither): detail.gateType — "invite"');
    expect(out).toContain('✓ Scenario 3: entry store markets — ["a","c"]');
    expect(out).toContain('where to look:');
  }, 300_000);
  // Last: a demo stopped while its processors were still joining their groups can leave a member
  // the broker drops only after its session timeout, which the demo above would take for another
  // pipeline.
  it('stops within seconds when the connector halts on a gap, and prints the remedy (exit 1)', async () => {
    const table = uniqueName('demo-halt');
    await leaveCheckpointOfAGoneStream(table);
    const env = {
      ...process.env,
      REGFLOW_DEMAND_TABLE: table,
      REGFLOW_MONGODB_URL: databaseUrl(config.mongodb.url, names.db),
      REGFLOW_CRM_BUCKET: names.bucket,
      REGFLOW_REDIS_PREFIX: names.redis,
      REGFLOW_API_PORT: String(await freePort()),
    };
    const { code, out, ms } = await runDemo(env, ['--fans', '300', '--winners', '10'], 150_000);
    expect(code, out).toBe(1);
    expect(out).toContain('the DynamoDB Streams connector halted and writes nothing to Kafka');
    expect(out).toMatch(/reason: \[STREAM_CHANGED\] the table's stream is now arn:/);
    expect(out).toContain('    npx regflow connector reset --accept-gap\n');
    // Well before the replication stage's own timeout (minutes): the halt is seen while setting up
    // or registering, and the demo stops its pipeline and exits.
    expect(ms).toBeLessThan(120_000);
    expect(out).not.toContain('result: PASS');
  }, 180_000);
});
