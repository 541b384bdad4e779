import { createApi } from '../api/app.ts';
import { loadConfig } from '../config/index.ts';
import { createLogger } from '../lib/logger.ts';

// The API server of `npm run bench -- registration`, in its own process (so the load generator
// does not share its event loop). Names come from the parent; it reports its port and, when asked,
// its CPU time over IPC.

const config = loadConfig();
const api = await createApi(config, {
  database: process.env.BENCH_DATABASE as string,
  redisPrefix: process.env.BENCH_REDIS_PREFIX as string,
  tableName: process.env.BENCH_TABLE as string,
  logger: createLogger('warn', { component: 'bench-api' }),
});
await api.app.listen({ host: '127.0.0.1', port: 0 });
const address = api.app.server.address();
process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
process.on('message', async (msg: { type: string }) => {
  if (msg.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
  if (msg.type === 'stop') {
    await api.close();
    process.exit(0);
  }
});
