import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { createDynamoDb, createMongo, createRedis } from '../../lib/clients.ts';
import { isRetriable } from '../../lib/errors.ts';
import { config } from '../support.ts';

// The clients of lib/clients.ts against an endpoint that stops answering: a local TCP proxy to the
// real service that can turn into a black hole (it keeps every connection open, accepts new ones,
// and drops every byte). A call must fail within its configured timeout, classified retriable by
// lib/errors.ts, instead of hanging its caller (a processor's partition, the connector, the API).

const TIMEOUT_MS = 500;
/** Scheduling slack on a shared 2-core machine; "hanging" would be the test's own 60 s timeout. */
const SLACK_MS = 2_500;

interface BlackHoleProxy {
  port: number;
  /** From now on every byte either way is dropped, and new connections get no answer. */
  stall(): void;
  close(): Promise<void>;
}

const proxies: BlackHoleProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** A proxy to host:port (or, without a target, a black hole from the start). */
async function blackHoleProxy(target?: { host: string; port: number }): Promise<BlackHoleProxy> {
  let stalled = target === undefined;
  const sockets = new Set<Socket>();
  const keep = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    keep(client);
    if (stalled || target === undefined) return;
    const upstream = netConnect(target.port, target.host);
    keep(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (bytes) => {
      if (!stalled) upstream.write(bytes);
    });
    upstream.on('data', (bytes) => {
      if (!stalled) client.write(bytes);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: BlackHoleProxy = {
    port: (server.address() as { port: number }).port,
    stall: () => {
      stalled = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  proxies.push(proxy);
  return proxy;
}

const hostPortOf = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
};

/** The service's URL (credentials, database, options kept) pointed at a local port instead. */
const pointedAt = (url: string, port: number, params: Record<string, string> = {}) => {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
};

/** Runs `call`, which must fail: its error and how long it took. */
async function failure(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await call();
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error('the call succeeded against a black hole');
}

/**
 * Opens the kept-alive connection with a call that must succeed through the proxy. The client's
 * timeout is short (TIMEOUT_MS) and the service is real, so on a busy machine (CI runs the
 * full-size scenario alongside) one answer can be late: tried a few times before the stall.
 */
async function warmUp(call: () => Promise<unknown>, attempts = 10): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await call();
      return;
    } catch (error) {
      if (attempt >= attempts || !isRetriable(error)) throw error;
    }
  }
}

function expectTimedOut({ error, ms }: { error: unknown; ms: number }, timeoutMs: number) {
  expect(isRetriable(error), String(error)).toBe(true);
  expect(ms).toBeGreaterThanOrEqual(timeoutMs * 0.9);
  expect(ms).toBeLessThan(timeoutMs + SLACK_MS);
}

describe('client timeouts (REGFLOW_*_TIMEOUT_MS)', () => {
  it('DynamoDB: a request to an endpoint that accepts and never answers fails retriably after the request timeout', async () => {
    const hole = await blackHoleProxy();
    const dynamo = createDynamoDb({
      ...config.dynamodb,
      endpoint: `http://127.0.0.1:${hole.port}`,
      requestTimeoutMs: TIMEOUT_MS,
    });
    try {
      const result = await failure(() => dynamo.send(new ListTablesCommand({ Limit: 1 })));
      expect((result.error as Error).name).toBe('TimeoutError');
      expectTimedOut(result, TIMEOUT_MS);
    } finally {
      dynamo.destroy();
    }
  });

  it('DynamoDB: a kept-alive connection that goes silent fails retriably after the request timeout', async () => {
    const proxy = await blackHoleProxy(hostPortOf(config.dynamodb.endpoint));
    const dynamo = createDynamoDb({
      ...config.dynamodb,
      endpoint: `http://127.0.0.1:${proxy.port}`,
      requestTimeoutMs: TIMEOUT_MS,
    });
    try {
      await warmUp(() => dynamo.send(new ListTablesCommand({ Limit: 1 })));
      proxy.stall();
      expectTimedOut(await failure(() => dynamo.send(new ListTablesCommand({ Limit: 1 }))), TIMEOUT_MS);
    } finally {
      dynamo.destroy();
    }
  });

  it('MongoDB: no reachable server fails retriably after the server selection timeout', async () => {
    const hole = await blackHoleProxy();
    const mongo = createMongo({
      ...config.mongodb,
      url: pointedAt(config.mongodb.url, hole.port),
      serverSelectionTimeoutMs: TIMEOUT_MS,
    });
    try {
      expectTimedOut(await failure(() => mongo.db().command({ ping: 1 })), TIMEOUT_MS);
    } finally {
      await mongo.close(true).catch(() => {});
    }
  });

  it('MongoDB: a connected server that goes silent fails the operation retriably after the socket timeout', async () => {
    const proxy = await blackHoleProxy(hostPortOf(config.mongodb.url));
    const mongo = createMongo({
      ...config.mongodb,
      url: pointedAt(config.mongodb.url, proxy.port, { directConnection: 'true' }),
      socketTimeoutMs: TIMEOUT_MS,
    });
    try {
      await warmUp(() => mongo.db().command({ ping: 1 }));
      proxy.stall();
      const result = await failure(() => mongo.db().command({ ping: 1 }));
      expect((result.error as Error).name).toBe('MongoNetworkTimeoutError');
      expectTimedOut(result, TIMEOUT_MS);
    } finally {
      await mongo.close(true).catch(() => {});
    }
  });

  it('Redis: a command to a server that accepts and never answers fails retriably after the command timeout', async () => {
    const hole = await blackHoleProxy();
    const redis = createRedis({
      ...config.redis,
      url: pointedAt(config.redis.url, hole.port),
      commandTimeoutMs: TIMEOUT_MS,
    });
    try {
      expectTimedOut(await failure(() => redis.ping()), TIMEOUT_MS);
    } finally {
      redis.disconnect();
    }
  });

  it('Redis: a connected server that goes silent fails the command retriably after the command timeout', async () => {
    const proxy = await blackHoleProxy(hostPortOf(config.redis.url));
    const redis = createRedis({
      ...config.redis,
      url: pointedAt(config.redis.url, proxy.port),
      commandTimeoutMs: TIMEOUT_MS,
    });
    try {
      await warmUp(async () => expect(await redis.ping()).toBe('PONG'));
      proxy.stall();
      const result = await failure(() => redis.ping());
      expect((result.error as Error).message).toBe('Command timed out');
      expectTimedOut(result, TIMEOUT_MS);
    } finally {
      redis.disconnect();
    }
  });
});
