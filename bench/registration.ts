import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import autocannon from 'autocannon';
import { MongoClient } from 'mongodb';
import { signToken } from '../api/auth.ts';
import { CampaignService } from '../campaigns/service.ts';
import { loadConfig, REPO_ROOT } from '../config/index.ts';
import { createDynamoDb } from '../lib/clients.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { DemandTable } from '../stores/demand-table.ts';
import { validDefinition } from '../test/fixtures/campaigns.ts';
import { dropDatabaseWhenQuiet } from '../test/support.ts';

// `npm run bench -- registration [--duration S] [--connections N] [--write-connections N] [--rounds R]`
//
// Real HTTP (autocannon) against the API in its own process, on the shared Redis, FerretDB and
// moto DynamoDB, with names of its own:
// - refused path: PUT entries of fans not on an invite-only campaign's list (NOT_INVITED, 422),
//   campaign cached (warm-up first) — token check, validation, cache version check, the rules;
// - write path: eligible registrations of distinct fans (one UpdateItem each), next to a raw
//   PutItem loop of the AWS SDK at the same concurrency on the same endpoint, interleaved
//   (raw, write, raw, …, raw; the ratio uses the means);
// CPU of the API process, moto and this process per phase (share of one core) names the bottleneck.

const config = loadConfig();
const stamp = `${Date.now().toString(36)}-${process.pid}`;
const names = {
  database: `bench_registration_${stamp.replace(/-/g, '_')}`,
  redisPrefix: `bench-registration-${stamp}:`,
  tableName: `bench-demand-${stamp}`,
};

interface Phase {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  unexpected: number;
  cpu: { api: number; moto: number; bench: number };
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const clkTck = 100;

function pidOnPort(port: number): number | undefined {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
    const m = /pid=(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function procCpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / clkTck;
  } catch {
    return 0;
  }
}

class ServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<ServerProcess> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'bench/registration-server.ts')],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          BENCH_DATABASE: names.database,
          BENCH_REDIS_PREFIX: names.redisPrefix,
          BENCH_TABLE: names.tableName,
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`API process exited with ${code}`)));
      child.on('message', (m: { type: string; port?: number }) => {
        if (m.type === 'listening') resolve(m.port ?? 0);
      });
    });
    return new ServerProcess(child, port);
  }

  cpuSeconds(): Promise<number> {
    return new Promise((resolve) => {
      const onMessage = (m: { type: string; usage?: NodeJS.CpuUsage }) => {
        if (m.type !== 'cpu' || !m.usage) return;
        this.child.off('message', onMessage);
        resolve((m.usage.user + m.usage.system) / 1e6);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'cpu' });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ type: 'stop' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    this.child.kill('SIGKILL');
  }
}

async function measureCpu<T>(server: ServerProcess, motoPid: number | undefined, fn: () => Promise<T>) {
  const t0 = process.hrtime.bigint();
  const [api0, moto0, bench0] = [await server.cpuSeconds(), procCpuSeconds(motoPid), process.cpuUsage()];
  const result = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const bench1 = process.cpuUsage(bench0);
  const cpu = {
    api: round(((await server.cpuSeconds()) - api0) / seconds),
    moto: round((procCpuSeconds(motoPid) - moto0) / seconds),
    bench: round((bench1.user + bench1.system) / 1e6 / seconds),
  };
  return { result, cpu };
}

async function load(
  port: number,
  opts: {
    connections: number;
    duration: number;
    expectStatus: number;
    next: () => { path: string; token: string; body: string };
  },
): Promise<Omit<Phase, 'cpu'>> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: opts.connections,
    duration: opts.duration,
    requests: [
      {
        method: 'PUT',
        setupRequest: (req) => {
          const { path, token, body } = opts.next();
          return {
            ...req,
            path,
            body,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          };
        },
      },
    ],
  });
  const stats =
    (result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  const expected = stats[String(opts.expectStatus)]?.count ?? 0;
  const total = Object.values(stats).reduce((a, s) => a + s.count, 0);
  return {
    requestsPerSecond: round(result.requests.average, 0),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: total,
    unexpected: total - expected + result.errors + result.timeouts,
  };
}

/** Raw items get fresh keys in every phase, like the write path's (mostly) new entries. */
let rawSeq = 0;

async function rawPutLoop(connections: number, seconds: number): Promise<Omit<Phase, 'cpu'>> {
  const dynamo = createDynamoDb(config.dynamodb);
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let errors = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const i = rawSeq++;
        const t0 = performance.now();
        try {
          await dynamo.send(
            new PutItemCommand({
              TableName: names.tableName,
              Item: {
                PK: { S: `fan:raw-${i}` },
                SK: { S: 'entry#bench-raw' },
                type: { S: 'entry' },
                campaignId: { S: 'bench-raw' },
                globalUserId: { S: `raw-${i}` },
                email: { S: `raw-${i}@example.com` },
                firstName: { S: 'Ann' },
                lastName: { S: 'Lee' },
                phone: { S: '+12125550100' },
                postalCode: { S: '10001' },
                locale: { S: 'en-US' },
                markets: { L: [{ S: 'nyc' }] },
                marketing: { M: { emailOptIn: { BOOL: true }, smsOptIn: { BOOL: false } } },
                needsReplication: { BOOL: true },
                date: {
                  M: {
                    updated: { S: new Date().toISOString() },
                    fanModified: { S: new Date().toISOString() },
                  },
                },
                version: { N: String(Date.now() * 1000) },
                createdAt: { S: new Date().toISOString() },
              },
            }),
          );
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  dynamo.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0);
  return {
    requestsPerSecond: round(latencies.length / seconds, 0),
    p50Ms: pct(50),
    p99Ms: pct(99),
    requests: latencies.length,
    unexpected: errors,
  };
}

export async function benchRegistration(opts: {
  duration: number;
  connections: number;
  writeConnections: number;
  rounds: number;
}) {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const mongo = new MongoClient(config.mongodb.url);
  await mongo.connect();
  const dynamo = createDynamoDb(config.dynamodb);
  let server: ServerProcess | undefined;
  try {
    const store = new MongoCampaignStore(mongo.db(names.database));
    await store.init();
    const service = new CampaignService({ store });
    const def = validDefinition();
    await service.apply({
      ...def,
      id: 'bench-invite',
      gate: { inviteOnly: true, idvRequired: false },
      invites: ['vip@example.com'],
    });
    await service.apply({ ...def, id: 'bench-open', gate: { inviteOnly: false, idvRequired: false } });
    await new DemandTable(dynamo, names.tableName).ensureTable();

    const fans = 20_000;
    print(`signing ${fans} fan tokens…`);
    const tokens = await Promise.all(
      Array.from({ length: fans }, (_, i) => signToken(config.api.jwtSecret, { sub: `fan-${i}` }, '2h')),
    );
    const body = (i: number) =>
      JSON.stringify({
        email: `fan-${i}@example.com`,
        firstName: 'Ann',
        lastName: 'Lee',
        phone: '(212) 555-0100',
        postalCode: '10001',
        markets: ['nyc'],
        marketing: { emailOptIn: true, smsOptIn: false },
      });
    const bodies = Array.from({ length: fans }, (_, i) => body(i));
    let k = 0;
    const next = (campaign: string) => () => {
      const i = k++ % fans;
      return {
        path: `/v1/campaigns/${campaign}/entries/fan-${i}`,
        token: tokens[i] as string,
        body: bodies[i] as string,
      };
    };

    server = await ServerProcess.start();
    const motoPid = pidOnPort(Number(new URL(config.dynamodb.endpoint).port || 80));
    print(`API on port ${server.port}; moto pid ${motoPid ?? 'unknown'}; ${opts.duration}s per phase`);

    // warm-up: JIT, connections, the campaign into the cache
    await load(server.port, {
      connections: opts.connections,
      duration: 2,
      expectStatus: 422,
      next: next('bench-invite'),
    });
    const refused = await measureCpu(server, motoPid, () =>
      load(server!.port, {
        connections: opts.connections,
        duration: opts.duration,
        expectStatus: 422,
        next: next('bench-invite'),
      }),
    );
    print(
      `refused path (NOT_INVITED, ${opts.connections} connections): ${refused.result.requestsPerSecond} req/s, p50 ${refused.result.p50Ms} ms, p99 ${refused.result.p99Ms} ms, unexpected answers ${refused.result.unexpected}; CPU api ${refused.cpu.api}, moto ${refused.cpu.moto}, load generator ${refused.cpu.bench}`,
    );

    const c = opts.writeConnections;
    await load(server.port, { connections: c, duration: 2, expectStatus: 200, next: next('bench-open') });
    await rawPutLoop(c, 2); // warm-up of the raw loop's client and connections too
    // Alternate raw, write, raw, write, …, raw: moto is shared with other work, so its speed drifts;
    // the ratio compares the means of interleaved phases.
    type Measured = Awaited<ReturnType<typeof measureCpu<Omit<Phase, 'cpu'>>>>;
    const raws: Measured[] = [];
    const writes: Measured[] = [];
    const rawPhase = async () => {
      const r = await measureCpu(server!, motoPid, () => rawPutLoop(c, opts.duration));
      raws.push(r);
      print(
        `raw PutItem loop (${c} concurrent): ${r.result.requestsPerSecond} puts/s, p50 ${r.result.p50Ms} ms, p99 ${r.result.p99Ms} ms; CPU moto ${r.cpu.moto}, loop ${r.cpu.bench}`,
      );
    };
    for (let i = 0; i < opts.rounds; i++) {
      await rawPhase();
      const w = await measureCpu(server, motoPid, () =>
        load(server!.port, {
          connections: c,
          duration: opts.duration,
          expectStatus: 200,
          next: next('bench-open'),
        }),
      );
      writes.push(w);
      print(
        `write path (eligible, ${c} connections): ${w.result.requestsPerSecond} req/s, p50 ${w.result.p50Ms} ms, p99 ${w.result.p99Ms} ms, unexpected answers ${w.result.unexpected}; CPU api ${w.cpu.api}, moto ${w.cpu.moto}, load generator ${w.cpu.bench}`,
      );
    }
    await rawPhase();

    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rawMean = mean(raws.map((r) => r.result.requestsPerSecond));
    const writeMean = mean(writes.map((w) => w.result.requestsPerSecond));
    const ratio = round(writeMean / rawMean, 3);
    const write = {
      result: {
        requestsPerSecond: round(writeMean, 0),
        p50Ms: round(mean(writes.map((w) => w.result.p50Ms))),
        p99Ms: Math.max(...writes.map((w) => w.result.p99Ms)),
        requests: writes.reduce((a, w) => a + w.result.requests, 0),
        unexpected: writes.reduce((a, w) => a + w.result.unexpected, 0),
      },
      cpu: {
        api: round(mean(writes.map((w) => w.cpu.api))),
        moto: round(mean(writes.map((w) => w.cpu.moto))),
        bench: round(mean(writes.map((w) => w.cpu.bench))),
      },
    };
    const loadAverage = round(loadavg()[0] ?? 0);
    const contended = loadAverage > cpus().length;
    const refusedBottleneck =
      refused.cpu.api >= 0.85
        ? 'the API process (one Node.js event loop at ~100% of a core: JWT HMAC, JSON parse + validation, the Redis version check)'
        : refused.cpu.bench >= 0.85
          ? 'the load generator (autocannon at ~100% of a core) — the API had headroom'
          : `CPU time: neither the API (${refused.cpu.api} of a core) nor the generator saturated a core${contended ? `; the machine was oversubscribed (load average ${loadAverage} on ${cpus().length} cores), so requests waited for a CPU` : ''}`;
    const writeBottleneck =
      write.cpu.moto >= 0.85
        ? 'moto (the DynamoDB server: one Python process at ~100% of a core); the API waits on it'
        : `moto's latency per write (p50 ${write.result.p50Ms} ms; the API spends ${write.cpu.api} of a core)${contended ? `; moto itself got only ${write.cpu.moto} of a core on an oversubscribed machine (load average ${loadAverage} on ${cpus().length} cores), and it is shared with other clients` : ''}`;
    print(
      `refused path goal ≥ 5000 req/s at p99 ≤ 10 ms: ${refused.result.requestsPerSecond >= 5000 && refused.result.p99Ms <= 10 ? 'met' : 'NOT met'}; bottleneck: ${refusedBottleneck}`,
    );
    print(
      `write path / raw PutItem = ${ratio} (means of ${writes.length} and ${raws.length} interleaved phases; goal ≥ 0.8: ${ratio >= 0.8 ? 'met' : 'NOT met'}); bottleneck: ${writeBottleneck}`,
    );
    print(
      `BENCH ${JSON.stringify({
        bench: 'registration',
        durationSeconds: opts.duration,
        refused: {
          connections: opts.connections,
          ...refused.result,
          cpu: refused.cpu,
          bottleneck: refusedBottleneck,
        },
        write: { connections: c, ...write.result, cpu: write.cpu, bottleneck: writeBottleneck },
        writeRounds: writes.map((w) => ({ ...w.result, cpu: w.cpu })),
        rawPutItem: {
          connections: c,
          rounds: raws.map((r) => ({ ...r.result, cpu: r.cpu })),
          meanPerSecond: round(rawMean, 0),
        },
        loadAverage1m: loadAverage,
        cores: cpus().length,
        writeToRawRatio: ratio,
      })}`,
    );
  } finally {
    await server?.stop();
    await dynamo.send(new DeleteTableCommand({ TableName: names.tableName })).catch(() => {});
    dynamo.destroy();
    await dropDatabaseWhenQuiet(mongo.db(names.database));
    await mongo.close();
    const { createRedis } = await import('../lib/clients.ts');
    const redis = createRedis(config.redis);
    await redis
      .del(`${names.redisPrefix}campaign:bench-invite`, `${names.redisPrefix}campaign:bench-open`)
      .catch(() => {});
    redis.disconnect();
  }
}
