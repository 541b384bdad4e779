import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

// /healthz: the process is alive. /readyz: the consumer has joined its group and is running.
// /metrics: Prometheus text format.

export async function startHttp(opts: {
  port: number;
  host?: string;
  registry: Registry;
  ready: () => boolean;
}): Promise<{ server: FastifyInstance; port: number }> {
  const server = Fastify({ logger: false });
  server.get('/healthz', async () => ({ status: 'ok' }));
  server.get('/readyz', async (_req, reply) =>
    opts.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' }),
  );
  server.get('/metrics', async (_req, reply) =>
    reply.header('content-type', opts.registry.contentType).send(await opts.registry.metrics()),
  );
  await server.listen({ port: opts.port, host: opts.host ?? '127.0.0.1' });
  const address = server.server.address();
  return { server, port: typeof address === 'object' && address ? address.port : opts.port };
}
