import { spawn } from 'node:child_process';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { type Admin, type IHeaders, type KafkaMessage, Partitioners, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.ts';
import { createKafka, createSchemaRegistry } from '../../lib/clients.ts';
import { Header } from '../../runtime/headers.ts';
import { createTopic as createTopicOnBroker } from '../../topology/admin.ts';
import { config, uniqueName } from '../support.ts';

// The inspection commands as an operator runs them: `node bin/regflow.js ...` in a child process,
// against the real broker and registry.

const kafka = createKafka(config.kafka);
const registry = createSchemaRegistry(config.schemaRegistry);
let admin: Admin;
let producer: Producer;
/** The commands' own state (the redrive offsets) is left for the test to remove. */
const redriveGroups: string[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await Promise.all([admin.connect(), producer.connect()]);
});

afterAll(async () => {
  await admin.deleteGroups(redriveGroups).catch(() => {});
  await Promise.all([producer.disconnect(), admin.disconnect()]);
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function regflow(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/regflow.js', ...args], { cwd: REPO_ROOT, env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

async function createTopic(name: string, partitions = 1): Promise<string> {
  await createTopicOnBroker(admin, { topic: name, numPartitions: partitions });
  return name;
}

/** Everything on `topic`: reads until `expected` records arrived, then a little longer to catch extras. */
async function readAll(topic: string, expected: number): Promise<KafkaMessage[]> {
  const groupId = uniqueName('inspect-check');
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const messages: KafkaMessage[] = [];
  try {
    await new Promise<void>((resolve) => {
      let timer = setTimeout(resolve, 10_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          messages.push(message);
          if (messages.length >= expected) {
            clearTimeout(timer);
            timer = setTimeout(resolve, 1_500);
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => {});
  }
  return messages;
}

const headerText = (headers: IHeaders | undefined, name: string) => headers?.[name]?.toString();

const sampleSchema = {
  type: 'record',
  name: 'InspectSample',
  namespace: 'regflow.test',
  fields: [
    { name: 'id', type: 'int' },
    { name: 'name', type: 'string' },
  ],
};

async function avroTopic(
  partitions: number,
): Promise<{ topic: string; encode: (v: object) => Promise<Buffer> }> {
  const topic = await createTopic(uniqueName('inspect.tail'), partitions);
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(sampleSchema) },
    { subject: `${topic}-value` },
  );
  return { topic, encode: (v) => registry.encode(id, v) };
}

describe('regflow tail', () => {
  it('prints the Avro records of a topic decoded, one JSON line each, and exits', async () => {
    const { topic, encode } = await avroTopic(2);
    const values = [
      { id: 1, name: 'ada' },
      { id: 2, name: 'grace' },
      { id: 3, name: 'linus' },
    ];
    await producer.send({
      topic,
      messages: await Promise.all(
        values.map(async (v) => ({ key: `k-${v.id}`, value: await encode(v), headers: { source: 'test' } })),
      ),
    });

    const run = await regflow('tail', topic, '--from-beginning');

    expect(run.code, run.stderr).toBe(0);
    const printed = lines(run.stdout).map((l) => JSON.parse(l));
    expect(printed).toHaveLength(3);
    expect(printed.map((p) => p.value).sort((a, b) => a.id - b.id)).toEqual(values);
    const first = printed.find((p) => p.key === 'k-1');
    expect(first).toMatchObject({ topic, headers: { source: 'test' }, value: values[0] });
    expect(typeof first.offset).toBe('number');
    expect(new Date(first.timestamp).toISOString()).toBe(first.timestamp);
  });

  it('reports a record that is not Avro as an error line and goes on', async () => {
    const { topic, encode } = await avroTopic(1);
    await producer.send({
      topic,
      messages: [
        { key: 'a', value: await encode({ id: 1, name: 'before' }) },
        { key: 'b', value: 'plain text, not Avro' },
        { key: 'c', value: await encode({ id: 2, name: 'after' }) },
      ],
    });

    const run = await regflow('tail', topic, '--from-beginning');

    expect(run.code, run.stderr).toBe(0);
    const [before, bad, after] = lines(run.stdout).map((l) => JSON.parse(l));
    expect(before.value).toEqual({ id: 1, name: 'before' });
    expect(bad).toMatchObject({ key: 'b', offset: 1, error: expect.stringMatching(/wire format/) });
    expect(Buffer.from(bad.valueBase64, 'base64').toString()).toBe('plain text, not Avro');
    expect(bad.value).toBeUndefined();
    expect(after.value).toEqual({ id: 2, name: 'after' });
  });

  it('ends at once on an empty topic, and stops after --max records', async () => {
    const { topic, encode } = await avroTopic(1);
    const empty = await regflow('tail', topic, '--from-beginning');
    expect(empty).toMatchObject({ code: 0, stdout: '' });

    await producer.send({
      topic,
      messages: await Promise.all(
        [1, 2, 3, 4].map(async (id) => ({ value: await encode({ id, name: `n${id}` }) })),
      ),
    });
    const capped = await regflow('tail', topic, '--from-beginning', '--max', '2');
    expect(capped.code, capped.stderr).toBe(0);
    expect(lines(capped.stdout).map((l) => JSON.parse(l).value.id)).toEqual([1, 2]);
  });

  it('names an unknown topic in one error line and exits 1', async () => {
    const missing = uniqueName('inspect.missing');
    const run = await regflow('tail', missing);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([`regflow: unknown topic "${missing}"`]);
  });
});

describe('regflow dlq', () => {
  it('lists dead letters and redrives each to its original topic exactly once', async () => {
    const processor = uniqueName('inspect-proc');
    redriveGroups.push(`${processor}.dlq-redrive`);
    const dlt = await createTopic(`${processor}.dlt`);
    const original = await createTopic(uniqueName('inspect.original'));
    const deadLetter = (n: number): { key: string; value: string; headers: IHeaders } => ({
      key: `fan-${n}`,
      value: `payload-${n}`,
      headers: {
        [Header.ORIGINAL_TOPIC]: original,
        [Header.ORIGINAL_PARTITION]: '0',
        [Header.ORIGINAL_OFFSET]: String(40 + n),
        [Header.ORIGINAL_CONSUMER_GROUP]: processor,
        [Header.ATTEMPTS]: '4',
        [Header.EXCEPTION_FQCN]: 'PermanentError',
        [Header.EXCEPTION_MESSAGE]: `campaign closed\nfor fan ${n}`,
        [Header.EXCEPTION_CODE]: 'REGFLOW_PERMANENT',
        [Header.BACKOFF_TIMESTAMP]: '0',
        'trace-id': `trace-${n}`,
      },
    });
    await producer.send({ topic: dlt, messages: [deadLetter(1), deadLetter(2)] });

    const list = await regflow('dlq', 'list', processor);
    expect(list.code, list.stderr).toBe(0);
    const listed = lines(list.stdout);
    expect(listed).toHaveLength(3);
    expect(listed[0]).toMatch(
      /^0\/0 +key=fan-1 +from=.*\/0\/41 +attempts=4 +pending +PermanentError: campaign closed for fan 1$/,
    );
    expect(listed[0]).toContain(`from=${original}/0/41`);
    expect(listed[1]).toContain('key=fan-2');
    expect(listed[2]).toBe(`2 dead letters in ${dlt} (2 not redriven)`);

    const dryRun = await regflow('dlq', 'redrive', processor);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain(`would redrive ${dlt}/0/0 -> ${original} key=fan-1`);
    expect(dryRun.stdout).toContain('add --execute');

    const first = await regflow('dlq', 'redrive', processor, '--execute');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`redrove 2 dead letters from ${dlt}`);

    const redriven = await readAll(original, 2);
    expect(redriven).toHaveLength(2);
    expect(redriven.map((m) => [m.key?.toString(), m.value?.toString()])).toEqual([
      ['fan-1', 'payload-1'],
      ['fan-2', 'payload-2'],
    ]);
    for (const [i, m] of redriven.entries()) {
      expect(headerText(m.headers, Header.REDRIVEN_FROM)).toBe(`${dlt}/0/${i}`);
      expect(headerText(m.headers, Header.ORIGINAL_TOPIC)).toBe(original);
      expect(headerText(m.headers, 'trace-id')).toBe(`trace-${i + 1}`);
      const names = Object.keys(m.headers ?? {});
      expect(
        names.filter((n) => n.startsWith('kafka_dlt-exception-') || n.startsWith('retry_topic-')),
      ).toEqual([]);
    }

    const second = await regflow('dlq', 'redrive', processor, '--execute');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`redrove 0 dead letters from ${dlt}`);
    expect(await readAll(original, 2)).toHaveLength(2);

    const after = await regflow('dlq', 'list', processor);
    expect(lines(after.stdout).at(-1)).toBe(`2 dead letters in ${dlt} (0 not redriven)`);
  });

  it('skips and reports a dead letter without an original topic', async () => {
    const processor = uniqueName('inspect-proc');
    redriveGroups.push(`${processor}.dlq-redrive`);
    await createTopic(`${processor}.dlt`);
    await producer.send({ topic: `${processor}.dlt`, messages: [{ key: 'orphan', value: 'x' }] });

    const run = await regflow('dlq', 'redrive', processor, '--execute');

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`skipped ${processor}.dlt/0/0: no ${Header.ORIGINAL_TOPIC} header`);
    expect(run.stdout).toContain('redrove 0 dead letters');
  });

  it('names the known processors when a processor has no dead-letter topic', async () => {
    const run = await regflow('dlq', 'list', 'no-such-processor');
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/unknown topic "no-such-processor\.dlt".*known processors: /);
  });
});
