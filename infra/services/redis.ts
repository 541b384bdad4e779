import { createRedis } from '../../lib/clients.ts';
import { ensureDebianPackage } from '../prereqs.ts';
import type { LocalService } from '../service.ts';

// Debian's redis-server: a cache (the campaign cache), so nothing is persisted.

const PORT = 6379;

export const redis: LocalService = {
  name: 'redis',
  describe: 'Redis (Debian redis-server, no persistence)',
  variable: 'REGFLOW_REDIS_URL',
  endpoint: (c) => c.redis.url,
  isExternal: (c) => c.redis.external,
  ports: [PORT],
  startTimeoutMs: 15_000,

  async provision(ctx) {
    await ensureDebianPackage('redis-server', 'redis-server', ctx.print);
  },

  async command(ctx) {
    const bin = await ensureDebianPackage('redis-server', 'redis-server', ctx.print);
    return {
      cmd: bin,
      args: [
        '--bind',
        '127.0.0.1',
        '--port',
        String(PORT),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        ctx.dataDir,
        '--daemonize',
        'no',
        '--maxmemory',
        '256mb',
        '--maxmemory-policy',
        'allkeys-lru',
      ],
      // redis rewrites its process title to "redis-server 127.0.0.1:6379"
      marker: 'redis-server',
    };
  },

  async healthy(config) {
    const client = createRedis(config.redis, { lazy: true });
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } finally {
      client.disconnect();
    }
  },
};
