import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig, REPO_ROOT } from '../config/index.ts';
import { rssMiB } from '../infra/proc.ts';
import { waitFor } from '../lib/retry.ts';
import { PROCESSORS } from '../processors/index.ts';

// `npm run bench -- rss`: resident memory of an idle processor process (`regflow run …`, joined
// and ready, nothing to do), for each processor alone and for all of them in one process.
// Each configuration is started `rounds` times; the figure is the median of the rounds, read
// `settleSeconds` after /readyz first answered 200. Needs the topics (`regflow topics create`).

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function idleRss(names: string[], settleSeconds: number): Promise<number> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/regflow.js'), 'run', ...names], {
    env: { ...process.env, REGFLOW_HTTP_PORT: '0', REGFLOW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  try {
    const portOf = () => /"httpPort":(\d+)/.exec(out)?.[1];
    const ready = await waitFor(
      async () => {
        const port = portOf();
        return port !== undefined && (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    if (!ready) throw new Error(`regflow run ${names.join(' ')} did not become ready:\n${out.slice(-2_000)}`);
    await new Promise((r) => setTimeout(r, settleSeconds * 1_000));
    const rss = rssMiB(child.pid!);
    if (rss === undefined) throw new Error('could not read the process RSS');
    return rss;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

export async function benchRss(opts: { rounds: number; settleSeconds: number }): Promise<void> {
  loadConfig();
  const names = Object.keys(PROCESSORS);
  const configs = [...names.map((n) => [n]), names];
  const figures: Record<string, number> = {};
  for (const set of configs) {
    const label = set.length === 1 ? set[0]! : `all(${set.length})`;
    const rounds: number[] = [];
    for (let r = 0; r < opts.rounds; r++) rounds.push(await idleRss(set, opts.settleSeconds));
    figures[label] = median(rounds);
    console.log(`${label.padEnd(24)} idle RSS median ${figures[label]} MiB (rounds: ${rounds.join(', ')})`);
  }
  console.log(
    `BENCH ${JSON.stringify({ bench: 'rss', unit: 'MiB', rounds: opts.rounds, settleSeconds: opts.settleSeconds, idleRss: figures })}`,
  );
}
