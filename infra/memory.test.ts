import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { waitFor } from '../lib/retry.ts';
import { pipelineStateFile, readPipelineState } from '../supervisor/state.ts';
import { Supervisor } from '../supervisor/supervisor.ts';
import {
  loopbackPort,
  memoryTotals,
  pipelineMemory,
  processTable,
  treeRssMiB,
  withServiceMemory,
} from './memory.ts';

// Real processes: the memory `npm run infra -- status` reports for the services and the pipeline.

const node = (script: string) => ({ command: process.execPath, args: ['-e', script] });
// Holds ~64 MiB of touched memory, so its RSS is clearly above a bare node's.
const BALLAST = 'const b = Buffer.alloc(64 * 1024 * 1024, 1); setInterval(() => b[0]++, 1000)';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track(child: ChildProcess): ChildProcess {
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  return child;
}

describe('process memory', () => {
  it("counts a process's descendants in its tree", async () => {
    // A parent that starts a child holding the ballast.
    const parent = track(
      spawn(
        process.execPath,
        [
          '-e',
          `const c = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(BALLAST)}], { stdio: 'inherit' }); setInterval(() => {}, 1000)`,
        ],
        { stdio: 'ignore' },
      ),
    );
    let grandchild: number | undefined;
    await waitFor(
      async () => {
        const table = processTable();
        grandchild = [...table].find(([, info]) => info.ppid === parent.pid)?.[0];
        return grandchild !== undefined && (table.get(grandchild)?.rssKiB ?? 0) > 64 * 1024;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    cleanups.push(() => {
      try {
        process.kill(grandchild!, 'SIGKILL');
      } catch {}
    });
    const table = processTable();
    const own = Math.round((table.get(parent.pid!)?.rssKiB ?? 0) / 1024);
    expect(treeRssMiB(parent.pid!, table)).toBeGreaterThanOrEqual(own + 63);
    expect(treeRssMiB(2 ** 22 + 1, table)).toBeUndefined();
  });

  it("reports the supervised pipeline's components through the supervisor's state file, and nothing once stopped", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'regflow-memory-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig({ ...process.env, REGFLOW_DATA_DIR: dataDir });
    expect(pipelineMemory(config)).toBeNull();

    const sup = new Supervisor(
      [
        { name: 'heavy', ...node(BALLAST) },
        { name: 'light', ...node('setInterval(() => {}, 1000)') },
      ],
      { onLine: () => {}, onEvent: () => {}, stopGraceMs: 2_000, stateFile: pipelineStateFile(dataDir) },
    );
    sup.start();
    cleanups.push(() => sup.stop());
    expect(
      await waitFor(
        async () => (pipelineMemory(config)?.components.find((c) => c.name === 'heavy')?.rssMiB ?? 0) > 64,
        {
          timeoutMs: 10_000,
          intervalMs: 50,
        },
      ),
    ).toBe(true);
    const pipeline = pipelineMemory(config)!;
    expect(pipeline.supervisorPid).toBe(process.pid);
    expect(pipeline.components.map((c) => [c.name, c.state, c.pid])).toEqual(
      sup.status().map((s) => [s.name, 'running', s.pid]),
    );
    expect(pipeline.components.every((c) => (c.rssMiB ?? 0) > 0)).toBe(true);
    // PSS: the ballast is the heavy one's own (counted whole); pages shared with the other node
    // processes (the binary) are split, so no component's PSS exceeds its RSS.
    const heavy = pipeline.components.find((c) => c.name === 'heavy')!;
    expect(heavy.pssMiB).toBeGreaterThan(64);
    for (const c of pipeline.components) expect(c.pssMiB!, c.name).toBeLessThanOrEqual(c.rssMiB! + 1);
    expect(pipeline.supervisorPssMiB).toBeGreaterThan(0);

    const totals = memoryTotals([], pipeline);
    expect(totals.pipelineMiB).toBe(pipeline.components.reduce((a, c) => a + c.rssMiB!, 0));
    expect(totals.pipelinePssMiB).toBe(pipeline.components.reduce((a, c) => a + c.pssMiB!, 0));
    expect(totals.totalMiB).toBe(totals.pipelineMiB + totals.supervisorMiB);

    await sup.stop();
    expect(readPipelineState(pipelineStateFile(dataDir))).toBeNull();
    expect(pipelineMemory(config)).toBeNull();
  });

  it('finds a service this checkout did not start by the port it listens on', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const [redis, elsewhere] = await withServiceMemory([
      { name: 'redis', state: 'external', describe: '', endpoint: `redis://127.0.0.1:${port}` },
      { name: 'kafka', state: 'external', describe: '', endpoint: 'kafka.example.com:9092' },
    ]);
    expect(redis).toMatchObject({ pid: process.pid });
    expect(redis!.rssMiB).toBeGreaterThan(0);
    expect(elsewhere!.pid).toBeUndefined();
    expect(memoryTotals([redis!, elsewhere!], null)).toMatchObject({
      servicesMiB: redis!.rssMiB,
      pipelineMiB: 0,
    });
  });

  it('reads the port of loopback endpoints only', () => {
    expect(loopbackPort('127.0.0.1:9092,127.0.0.1:9093')).toBe(9092);
    expect(loopbackPort('http://127.0.0.1:8081/apis/ccompat/v7')).toBe(8081);
    expect(loopbackPort('mongodb://localhost:27017/regflow')).toBe(27017);
    expect(loopbackPort('redis://10.0.0.5:6379')).toBeUndefined();
    expect(loopbackPort('http://127.0.0.1/')).toBeUndefined();
  });
});
