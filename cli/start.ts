import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, REPO_ROOT } from '../config/index.ts';
import { up } from '../infra/stack.ts';
import { createSchemaRegistry } from '../lib/clients.ts';
import { PROCESSORS } from '../processors/index.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import { ensureTopics } from '../topology/admin.ts';
import { allTopics } from '../topology/describe.ts';
import { topology } from '../topology/index.ts';
import { formatEnsureReport, withAdmin } from './topics.ts';
import { assertValidTopology } from './topology.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('bring up the local services and run the pipeline on its local defaults')
    .action(async () => {
      assertValidTopology();
      const config = loadConfig();
      const reports = await up(config);
      for (const r of reports) console.log(`${r.name.padEnd(16)} ${r.state.padEnd(8)} ${r.endpoint}`);
      // Drift is reported, not fatal: the pipeline still runs on the topics as they are.
      const topics = await withAdmin((admin) => ensureTopics(admin, allTopics(topology)), config);
      for (const line of formatEnsureReport({ ...topics, ok: [] })) console.log(line);
      if (topics.ok.length > 0) console.log(`topics           ${topics.ok.length} as in the topology`);
      // Every declared topic's value schema, under `<topic>-value`, so producers outside regflow
      // (the external inputs) find it; the registry refuses one that breaks compatibility.
      const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
      for (const t of topology.topics) await codec.register(t.name, loadSchema(t.valueSchema));
      console.log(`schemas          ${topology.topics.length} registered (<topic>-value)`);
      await runPipeline(config.runtime.httpPort);
    });
}

/**
 * One child process per processor (`regflow run <name>`) and one for the connector
 * (`regflow connector run`), each with its own metrics port, their
 * logs on this process's stdout; SIGINT / SIGTERM are passed on and we exit when all have stopped.
 */
async function runPipeline(basePort: number): Promise<void> {
  const commands = [
    ...Object.keys(PROCESSORS).map((name) => ({ label: `processor        ${name}`, args: ['run', name] })),
    // The DynamoDB Streams connector: waits (logging) until the demand-table exists.
    { label: 'connector        dynamodb-streams', args: ['connector', 'run'] },
  ];
  const children = commands.map(({ label, args }, i) => {
    const port = basePort === 0 ? 0 : basePort + i;
    console.log(`${label} (metrics http://127.0.0.1:${port || 'any'}/metrics)`);
    return spawn(process.execPath, [join(REPO_ROOT, 'bin/regflow.js'), ...args], {
      env: { ...process.env, REGFLOW_HTTP_PORT: String(port) },
      stdio: ['ignore', 'inherit', 'inherit'],
      // Own process group: a Ctrl-C reaches the children once, through `forward`, not twice.
      detached: true,
    });
  });
  // npm and tsx relay a Ctrl-C too, so this process can see one signal several times: pass it
  // on once, or the children would take the repeat for an operator's "stop now".
  let forwarded = false;
  const forward = (signal: NodeJS.Signals) => {
    if (forwarded) return;
    forwarded = true;
    for (const c of children) c.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const codes = await Promise.all(
    children.map((c) => new Promise<number>((r) => c.on('exit', (code) => r(code ?? 1)))),
  );
  process.exitCode = codes.every((c) => c === 0) ? 0 : 1;
}
