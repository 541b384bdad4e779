import { describe, expect, it } from 'vitest';
import { waitFor } from '../lib/retry.ts';
import { Supervisor } from './supervisor.ts';

// Real child processes (node -e): the supervisor's restarts, merged logs and stop.

const node = (script: string) => ({ command: process.execPath, args: ['-e', script] });

function harness(components: ConstructorParameters<typeof Supervisor>[0]) {
  const lines: string[] = [];
  const events: string[] = [];
  const sup = new Supervisor(components, {
    onLine: (c, line) => lines.push(`${c}: ${line}`),
    onEvent: (c, e) => events.push(`${c}: ${e}`),
    restart: { initialDelayMs: 20, maxDelayMs: 50 },
    stopGraceMs: 2_000,
  });
  return { sup, lines, events };
}

describe('Supervisor', () => {
  it('merges the components’ lines under their names and restarts one that dies', async () => {
    const { sup, lines, events } = harness([
      { name: 'steady', ...node("console.log('up'); setInterval(() => {}, 1000)") },
      { name: 'flaky', ...node("console.log('try'); process.exit(3)") },
    ]);
    sup.start();
    expect(
      await waitFor(async () => lines.filter((l) => l === 'flaky: try').length >= 3, {
        timeoutMs: 10_000,
        intervalMs: 20,
      }),
    ).toBe(true);
    expect(lines).toContain('steady: up');
    expect(events.some((e) => /^flaky: exited \(exit 3\).*restarting in \d+ ms$/.test(e))).toBe(true);
    expect(sup.status().find((s) => s.name === 'flaky')?.restarts).toBeGreaterThanOrEqual(2);
    await sup.stop();
    expect(sup.status().every((s) => s.state === 'stopped')).toBe(true);
  });

  it('passes the stop signal to every child and waits for them, leaving no process behind', async () => {
    const { sup, lines } = harness([
      {
        name: 'graceful',
        ...node(
          "process.on('SIGTERM', () => { console.log('bye'); process.exit(0) }); setInterval(() => {}, 1000)",
        ),
      },
      { name: 'stubborn', ...node("process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)") },
    ]);
    sup.start();
    await waitFor(async () => sup.pids().length === 2, { timeoutMs: 5_000, intervalMs: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const pids = sup.pids();
    await sup.stop();
    expect(lines).toContain('graceful: bye');
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
  });
});
