import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { Partitioners } from 'kafkajs';
import { loadConfig, REPO_ROOT } from '../config/index.ts';
import { rssMiB } from '../infra/proc.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { waitFor } from '../lib/retry.ts';
import { analyticsTopics } from '../processors/analytics-router/processor.ts';
import { routeDataRecord } from '../processors/analytics-router/records.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import type { DataRecord } from '../schemas/types.generated.ts';
import { mixedEnvelopes } from '../test/fixtures/analytics-samples.ts';
import { createTopic } from '../topology/admin.ts';
import { topology } from '../topology/index.ts';

// `npm run bench -- analytics [--records N] [--rounds R]`: analytics-router under the runtime
// (exactly-once) against the runtime's pass-through (echo forwarding the envelope unchanged) on
// the same data.records envelopes: the five types in turn plus 1% invalid (rejected). Each round
// has topics of its own, pre-loads the input, starts the contestant in its own process
// (test/fixtures/analytics-process.ts), and times from its group join until its committed offsets
// reach the input's end. Contestants alternate, so drift on the shared machine hits both.

const config = loadConfig();
const kafka = createKafka(config.kafka, { logLevel: 0 });
const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
const PARTITIONS = 6;
const INVALID_EVERY = 100;

type Contestant = 'echo' | 'router';
interface Round {
  contestant: Contestant;
  seconds: number;
  recordsPerSecond: number;
  /** CPU time of the processor process per record while timed: less sensitive than wall time to a busy machine. */
  cpuMicrosPerRecord: number;
  rssMiB: number;
}

/** User + system CPU seconds of a process so far (Linux /proc; clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function preload(topic: string, envelopes: DataRecord[], keys: string[]): Promise<void> {
  await codec.register(topic, loadSchema('data-record'));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  for (let i = 0; i < envelopes.length; i += 1_000) {
    const messages = await Promise.all(
      envelopes
        .slice(i, i + 1_000)
        .map(async (e, j) => ({ key: keys[i + j]!, value: await codec.encode(topic, e) })),
    );
    await producer.send({ topic, messages, acks: -1 });
  }
  await producer.disconnect();
}

async function round(
  contestant: Contestant,
  envelopes: DataRecord[],
  keys: string[],
  n: number,
  cpuProfDir?: string,
): Promise<Round> {
  const admin = kafka.admin();
  await admin.connect();
  const group = `bench-analytics-${contestant}-${Date.now().toString(36)}-${n}`;
  const topics = analyticsTopics(`${group}.`);
  const outputs =
    contestant === 'router' ? [...Object.values(topics.byType), topics.rejected] : [`${topics.input}.echoed`];
  const all = [topics.input, ...outputs, `${group}.dlt`];
  // Each output topic gets the partitions the topology declares for it (the input, echo's output
  // and the DLT get PARTITIONS): how many partitions a transaction spans is part of the cost.
  const declared = (topic: string) =>
    topology.topics.find((t) => `${group}.${t.name}` === topic)?.partitions ?? PARTITIONS;
  for (const topic of all) {
    const numPartitions = topic === topics.input ? PARTITIONS : declared(topic);
    await createTopic(admin, { topic, numPartitions });
  }
  await preload(topics.input, envelopes, keys);
  const ends = new Map((await admin.fetchTopicOffsets(topics.input)).map((p) => [p.partition, p.high]));

  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
      '--import',
      'tsx',
      join(REPO_ROOT, 'test/fixtures/analytics-process.ts'),
    ],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        REGFLOW_HTTP_PORT: '0',
        REGFLOW_LOG_LEVEL: 'warn',
        FIXTURE_PROCESSOR: contestant === 'router' ? 'analytics-router' : 'echo',
        FIXTURE_GROUP: group,
        FIXTURE_PREFIX: `${group}.`,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const joined = await waitFor(
      async () => {
        const port = /"httpPort":(\d+)/.exec(out)?.[1];
        return port !== undefined && (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    if (!joined) throw new Error(`${contestant} never joined its group:\n${out.slice(-2_000)}`);
    const t0 = performance.now();
    const cpu0 = cpuSeconds(child.pid!);
    const finished = await waitFor(
      async () => {
        const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topics.input] });
        return (offsets?.partitions ?? []).every((p) => p.offset === ends.get(p.partition));
      },
      { timeoutMs: 600_000, intervalMs: 50 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(child.pid!) - cpu0;
    if (!finished) throw new Error(`${contestant} did not finish`);
    // Committed offsets alone would also be reached by dead-lettering everything: check there is none.
    const dead = (await admin.fetchTopicOffsets(`${group}.dlt`)).reduce((s, p) => s + Number(p.high), 0);
    if (dead > 0) throw new Error(`${contestant} dead-lettered ${dead} records: not a valid round`);
    return {
      contestant,
      seconds,
      recordsPerSecond: envelopes.length / seconds,
      cpuMicrosPerRecord: (cpu * 1e6) / envelopes.length,
      rssMiB: rssMiB(child.pid!) ?? 0,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await admin.deleteTopics({ topics: all }).catch(() => {});
    await admin.disconnect();
  }
}

export async function benchAnalytics(args: {
  records: number;
  rounds: number;
  cpuProfDir?: string;
}): Promise<void> {
  const envelopes = mixedEnvelopes(args.records, { invalidEvery: INVALID_EVERY, source: 'bench' });
  const keys = envelopes.map((e) => {
    const r = routeDataRecord(e);
    return r.ok ? r.key : e.sourceRecordId;
  });
  const invalid = envelopes.filter((e) => !routeDataRecord(e).ok).length;
  const envelopeType = avro.Type.forSchema(loadSchema('data-record') as avro.Schema);
  // Confluent wire format: 5 bytes (magic byte, schema id) before the Avro body.
  const avgBytes = Math.round(
    envelopes.reduce((sum, e) => sum + 5 + envelopeType.toBuffer(e).length, 0) / envelopes.length,
  );
  console.log(
    `analytics benchmark: ${args.records} data.records envelopes (~${avgBytes} B each, 5 types in turn, ${invalid} invalid = ${((100 * invalid) / args.records).toFixed(1)}%), ` +
      `${PARTITIONS} partitions, ${args.rounds} round(s) each, alternating; both exactly-once`,
  );
  const rounds: Round[] = [];
  for (let n = 0; n < args.rounds; n++) {
    for (const contestant of ['echo', 'router'] as const) {
      const r = await round(contestant, envelopes, keys, n, args.cpuProfDir);
      rounds.push(r);
      console.log(
        `  round ${n + 1} ${contestant.padEnd(6)} ${r.seconds.toFixed(2)} s  ${Math.round(r.recordsPerSecond)} records/s  cpu ${r.cpuMicrosPerRecord.toFixed(1)} µs/record  rss ${r.rssMiB} MiB`,
      );
    }
  }
  const of = (c: Contestant) => rounds.filter((r) => r.contestant === c);
  const router = median(of('router').map((r) => r.recordsPerSecond));
  const echo = median(of('echo').map((r) => r.recordsPerSecond));
  const paired = of('router').map((r, i) => r.recordsPerSecond / of('echo')[i]!.recordsPerSecond);
  console.log(`median echo pass-through (exactly-once):  ${Math.round(echo)} records/s`);
  console.log(`median analytics-router (exactly-once):   ${Math.round(router)} records/s`);
  const cpuOf = (c: Contestant) => median(of(c).map((r) => r.cpuMicrosPerRecord));
  console.log(
    `median processor CPU per record: echo ${cpuOf('echo').toFixed(1)} µs, router ${cpuOf('router').toFixed(1)} µs`,
  );
  console.log(`ratio router / echo: ${(router / echo).toFixed(2)} (goal >= 0.80)`);
  console.log(
    `per-round ratios: ${paired.map((x) => x.toFixed(2)).join(' ')} (median ${median(paired).toFixed(2)})`,
  );
  console.log(
    `BENCH ${JSON.stringify({
      bench: 'analytics',
      records: args.records,
      invalid,
      avgEnvelopeBytes: avgBytes,
      partitions: PARTITIONS,
      rounds: args.rounds,
      routerRecordsPerSecond: Math.round(router),
      echoRecordsPerSecond: Math.round(echo),
      ratio: Number((router / echo).toFixed(3)),
      pairedRatioMedian: Number(median(paired).toFixed(3)),
      echoCpuMicrosPerRecord: Number(cpuOf('echo').toFixed(1)),
      routerCpuMicrosPerRecord: Number(cpuOf('router').toFixed(1)),
      perRound: rounds.map((r) => ({
        contestant: r.contestant,
        seconds: Number(r.seconds.toFixed(3)),
        recordsPerSecond: Math.round(r.recordsPerSecond),
        cpuMicrosPerRecord: Number(r.cpuMicrosPerRecord.toFixed(1)),
        rssMiB: r.rssMiB,
      })),
    })}`,
  );
}
