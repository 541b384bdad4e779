import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

// /healthz: the process is alive. /readyz: every resource answers and every processor's consumer
// has joined its group (503 with what is missing otherwise). /metrics: Prometheus text format.

export interface Readiness {
  ready: boolean;
  /** Shown as it is in the /readyz answer: per resource and per processor. */
  detail?: Record<string, unknown>;
}

export async function startHttp(opts: {
  port: number;
  host?: string;
  registry: Registry;
  readiness: () => Readiness;
}): Promise<{ server: FastifyInstance; port: number }> {
  const server = Fastify({ logger: false });
  server.get('/healthz', async () => ({ status: 'ok' }));
  server.get('/readyz', async (_req, reply) => {
    const { ready, detail } = opts.readiness();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...detail });
  });
  server.get('/metrics', async (_req, reply) =>
    reply.header('content-type', opts.registry.contentType).send(await opts.registry.metrics()),
  );
  await server.listen({ port: opts.port, host: opts.host ?? '127.0.0.1' });
  const address = server.server.address();
  return { server, port: typeof address === 'object' && address ? address.port : opts.port };
}
