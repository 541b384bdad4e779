import { describe, expect, it } from 'vitest';
import { freePort } from '../lib/ports.ts';
import { waitFor } from '../lib/retry.ts';
import { describeReadiness, type ReadinessAnswer, Supervisor } from './supervisor.ts';

// Real child processes (node -e): the supervisor's restarts, merged logs and stop.

const node = (script: string) => ({ command: process.execPath, args: ['-e', script] });

function harness(
  components: ConstructorParameters<typeof Supervisor>[0],
  opts: { readinessIntervalMs?: number } = {},
) {
  const lines: string[] = [];
  const events: string[] = [];
  const answers: string[] = [];
  const sup = new Supervisor(components, {
    onLine: (c, line) => lines.push(`${c}: ${line}`),
    onEvent: (c, e) => events.push(`${c}: ${e}`),
    onReadiness: (c, a) => answers.push(`${c}: ${JSON.stringify(a)}`),
    restart: { initialDelayMs: 20, maxDelayMs: 50 },
    stopGraceMs: 2_000,
    ...opts,
  });
  return { sup, lines, events, answers };
}

/** A child answering /readyz with the given (status, body) pairs in turn, the last one from then on. */
const readyz = (answers: [number, object][]) =>
  node(
    `const a = ${JSON.stringify(answers)}; let n = 0;
     require('node:http').createServer((q, r) => {
       const [code, body] = a[Math.min(n++, a.length - 1)];
       r.writeHead(code, { 'content-type': 'application/json' }); r.end(JSON.stringify(body));
     }).listen(Number(process.env.PORT), '127.0.0.1');`,
  );

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
          "process.on('SIGTERM', () => { console.log('bye'); process.exit(0) }); console.log('ready'); setInterval(() => {}, 1000)",
        ),
      },
      {
        name: 'stubborn',
        ...node("process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)"),
      },
    ]);
    sup.start();
    // Both handle SIGTERM by now (a fixed wait lost the race on a loaded machine).
    await waitFor(async () => lines.includes('graceful: ready') && lines.includes('stubborn: ready'), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
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

  it('reports a component that stops being ready with its /readyz reason, and when it is ready again', async () => {
    const [haltPort, slowPort] = [await freePort(), await freePort()];
    const halted = {
      status: 'not ready',
      state: 'halted',
      reason: '[STREAM_CHANGED] the stream is new',
      remedy: 'npx regflow connector reset --accept-gap',
    };
    const { sup, events, answers } = harness(
      [
        {
          name: 'connector',
          ...readyz([
            [200, { status: 'ready', state: 'leading' }],
            [503, halted],
            [503, halted],
            [200, { status: 'ready', state: 'leading' }],
          ]),
          env: { PORT: String(haltPort) },
          readyUrl: `http://127.0.0.1:${haltPort}/readyz`,
        },
        {
          // Still starting (not ready, no reason): not news.
          name: 'slow',
          ...readyz([[503, { status: 'not ready', groups: 'joining' }]]),
          env: { PORT: String(slowPort) },
          readyUrl: `http://127.0.0.1:${slowPort}/readyz`,
        },
      ],
      { readinessIntervalMs: 50 },
    );
    sup.start();
    const said =
      'not ready: halted: [STREAM_CHANGED] the stream is new — remedy: npx regflow connector reset --accept-gap';
    expect(
      await waitFor(async () => events.includes('connector: ready again'), {
        timeoutMs: 10_000,
        intervalMs: 20,
      }),
      events.join('\n'),
    ).toBe(true);
    expect(events.filter((e) => e.startsWith('connector: ') && !e.includes('started'))).toEqual([
      `connector: ${said}`,
      'connector: ready again',
    ]);
    expect(events.some((e) => e.startsWith('slow: ') && !e.includes('started'))).toBe(false);
    expect(answers.filter((a) => a.includes('"halted"'))).toHaveLength(1);
    expect(sup.status().find((c) => c.name === 'connector')?.readiness).toBe('ready');
    await sup.stop();
  });
});

describe('describeReadiness', () => {
  const not = (body: Record<string, unknown>): ReadinessAnswer => ({ ready: false, body });
  it('gives the state, reason and remedy of a halted component, else the answer without its status', () => {
    expect(describeReadiness({ ready: true, body: { status: 'ready' } })).toBe('ready');
    expect(
      describeReadiness(not({ status: 'not ready', state: 'halted', reason: 'gap', remedy: 'fix' })),
    ).toBe('not ready: halted: gap — remedy: fix');
    expect(describeReadiness(not({ status: 'not ready', mongo: 'down' }))).toBe(
      'not ready: {"mongo":"down"}',
    );
    expect(describeReadiness(not({ status: 'not ready', x: 'y'.repeat(600) })).length).toBeLessThan(520);
  });
});
