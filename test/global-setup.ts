import { loadConfig } from '../config/index.ts';
import { down, up } from '../infra/stack.ts';
import { servicesPath, startContainers } from './containers.ts';

// Brings the real services up before any test runs and, when this run is the one that started
// them, stops them afterwards unless REGFLOW_KEEP_INFRA=1. Two paths (README, Tests):
//   local       the default: local processes, provisioned on first use (npm run infra);
//   containers  REGFLOW_TEST_CONTAINERS=1 (or auto, where a Docker engine answers): containers
//               started with testcontainers; their endpoints reach the test workers through the
//               environment (the workers start after this setup, with its process.env).

export default async function setup(): Promise<() => Promise<void>> {
  const config = loadConfig();
  const t0 = Date.now();
  if ((await servicesPath(config.testContainers)) === 'containers') {
    const services = await startContainers();
    Object.assign(process.env, services.env);
    process.stderr.write(
      `[infra] containers: ${Object.values(services.env).join(' ')} (${((Date.now() - t0) / 1000).toFixed(1)}s)\n`,
    );
    return async () => {
      if (!config.keepInfra) await services.stop();
    };
  }
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
