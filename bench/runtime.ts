import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { loadConfig, REPO_ROOT } from '../config/index.ts';
import { rssMiB } from '../infra/proc.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { waitFor } from '../lib/retry.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import { createTopic } from '../topology/admin.ts';

// `npm run bench -- runtime [--records N] [--rounds R]`: the echo processor under the runtime
// (exactly-once on) against a bare kafkajs consume→produce loop, over the same ~1 KB Avro records
// on the same broker, each in its own process. Each round pre-loads the input, starts the
// contestant, and times from its group join until its committed offsets reach the input's end.

const config = loadConfig();
const kafka = createKafka(config.kafka, { logLevel: 0 });
const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
const PARTITIONS = 6;

interface Round {
  contestant: 'runtime' | 'bare';
  seconds: number;
  recordsPerSecond: number;
  rssMiB: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function preload(topic: string, records: number): Promise<void> {
  await codec.register(topic, loadSchema('sample-event'));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  const payload = 'x'.repeat(960); // with the other fields: ~1 KB encoded
  for (let i = 0; i < records; i += 1_000) {
    const messages = await Promise.all(
      Array.from({ length: Math.min(1_000, records - i) }, async (_, j) => {
        const n = i + j;
        const value = {
          id: `b-${n}`,
          key: `k-${n % 500}`,
          seq: n,
          payload,
          behavior: 'ok',
          producedAt: Date.now(),
        };
        return { key: value.key, value: await codec.encode(topic, value) };
      }),
    );
    await producer.send({ topic, messages, acks: -1 });
  }
  await producer.disconnect();
}

async function committedAll(
  admin: ReturnType<typeof kafka.admin>,
  group: string,
  topic: string,
  ends: Map<number, string>,
) {
  const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return (offsets?.partitions ?? []).every((p) => p.offset === ends.get(p.partition));
}

async function round(contestant: Round['contestant'], records: number, n: number): Promise<Round> {
  const admin = kafka.admin();
  await admin.connect();
  const group = `bench-${contestant}-${Date.now().toString(36)}-${n}`;
  const input = `${group}.in`;
  const output = `${group}.out`;
  for (const topic of [input, output, `${group}.dlt`])
    await createTopic(admin, { topic, numPartitions: PARTITIONS });
  await preload(input, records);
  const ends = new Map((await admin.fetchTopicOffsets(input)).map((p) => [p.partition, p.high]));

  const env = {
    ...process.env,
    REGFLOW_HTTP_PORT: '0',
    REGFLOW_LOG_LEVEL: 'warn',
    FIXTURE_GROUP: group,
    FIXTURE_INPUT: input,
    FIXTURE_OUTPUT: output,
    BENCH_GROUP: group,
    BENCH_INPUT: input,
    BENCH_OUTPUT: output,
  };
  const script = contestant === 'runtime' ? 'test/fixtures/echo-process.ts' : 'bench/bare-loop.ts';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    // The runtime is ready when /readyz says it joined its group; the bare loop prints a line.
    const joined = await waitFor(
      async () => {
        if (/BENCH joined/.test(out)) return true;
        const port = /"httpPort":(\d+)/.exec(out)?.[1];
        return port !== undefined && (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    if (!joined) throw new Error(`${contestant} never joined its group:\n${out.slice(-2_000)}`);
    const t0 = performance.now();
    const finished = await waitFor(() => committedAll(admin, group, input, ends), {
      timeoutMs: 600_000,
      intervalMs: 50,
    });
    const seconds = (performance.now() - t0) / 1000;
    if (!finished) throw new Error(`${contestant} did not finish`);
    // Committed offsets alone would also be reached by dead-lettering everything: check there is none.
    const dead = (await admin.fetchTopicOffsets(`${group}.dlt`)).reduce((n, p) => n + Number(p.high), 0);
    if (dead > 0) throw new Error(`${contestant} dead-lettered ${dead} records: not a valid round`);
    return { contestant, seconds, recordsPerSecond: records / seconds, rssMiB: rssMiB(child.pid!) ?? 0 };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await admin.deleteTopics({ topics: [input, output, `${group}.dlt`] }).catch(() => {});
    await admin.disconnect();
  }
}

export async function benchRuntime(args: { records: number; rounds: number }): Promise<void> {
  const rounds: Round[] = [];
  console.log(
    `runtime benchmark: ${args.records} records of ~1 KB Avro, ${PARTITIONS} partitions, ${args.rounds} round(s) each, alternating`,
  );
  for (let n = 0; n < args.rounds; n++) {
    for (const contestant of ['bare', 'runtime'] as const) {
      const r = await round(contestant, args.records, n);
      rounds.push(r);
      console.log(
        `  round ${n + 1} ${contestant.padEnd(7)} ${r.seconds.toFixed(2)} s  ${Math.round(r.recordsPerSecond)} records/s  rss ${r.rssMiB} MiB`,
      );
    }
  }
  const med = (c: Round['contestant']) =>
    median(rounds.filter((r) => r.contestant === c).map((r) => r.recordsPerSecond));
  const rt = med('runtime');
  const bare = med('bare');
  console.log(`median bare kafkajs loop (at-least-once): ${Math.round(bare)} records/s`);
  console.log(`median runtime (exactly-once):            ${Math.round(rt)} records/s`);
  const paired = rounds
    .filter((r) => r.contestant === 'runtime')
    .map((r, i) => r.recordsPerSecond / rounds.filter((b) => b.contestant === 'bare')[i]!.recordsPerSecond);
  console.log(`ratio runtime / bare: ${(rt / bare).toFixed(2)} (goal >= 0.90)`);
  console.log(
    `per-round ratios: ${paired.map((x) => x.toFixed(2)).join(' ')} (median ${median(paired).toFixed(2)})`,
  );
  const rss = (c: Round['contestant']) =>
    median(rounds.filter((r) => r.contestant === c).map((r) => r.rssMiB));
  const figures = {
    bench: 'runtime',
    records: args.records,
    rounds: args.rounds,
    partitions: PARTITIONS,
    runtimeMedianPerSec: Math.round(rt),
    bareMedianPerSec: Math.round(bare),
    ratioOfMedians: Number((rt / bare).toFixed(3)),
    pairedRatios: paired.map((x) => Number(x.toFixed(3))),
    medianPairedRatio: Number(median(paired).toFixed(3)),
    runtimeRssMiB: rss('runtime'),
    bareRssMiB: rss('bare'),
  };
  console.log(`BENCH ${JSON.stringify(figures)}`);
}
