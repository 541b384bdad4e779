import { loadConfig } from '../config/index.ts';
import { down, up } from '../infra/stack.ts';

// Brings the real services up before any test runs (provisioning them on first use) and, when
// this run is the one that started them, stops them afterwards unless REGFLOW_KEEP_INFRA=1.

export default async function setup(): Promise<() => Promise<void>> {
  const config = loadConfig();
  const t0 = Date.now();
  const reports = await up(config);
  const started = reports.filter((r) => r.state === 'started').map((r) => r.name);
  const summary = reports.map((r) => `${r.name}=${r.state}`).join(' ');
  process.stderr.write(`[infra] ${summary} (${((Date.now() - t0) / 1000).toFixed(1)}s)\n`);
  return async () => {
    if (started.length === 0 || config.keepInfra) return;
    await down(config, { services: started });
    process.stderr.write(`[infra] stopped ${started.join(', ')}\n`);
  };
}
