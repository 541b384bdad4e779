import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildServer } from './server.ts';

// The API's fastify instance starts without a deprecation warning (fastify 5 deprecated the
// top-level `disableRequestLogging` option: FSTDEP023 on every start) and still writes no log
// line per request. The routes' dependencies are not reached by these requests.

describe('buildServer', () => {
  it('starts without a fastify deprecation warning and logs no line per request', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) =>
      warnings.push(`${w.name} ${w.code ?? ''} ${w.message}`);
    process.on('warning', onWarning);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    try {
      const app = await buildServer({
        campaigns: {} as never,
        entries: {} as never,
        service: {} as never,
        jwtSecret: 'a-test-secret-of-at-least-32-characters',
        logger,
      });
      await app.ready();
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/no-such-route' })).statusCode).toBe(404);
      await app.close();
      // process.emitWarning delivers on a later tick.
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /FSTDEP|FastifyDeprecation/.test(w))).toEqual([]);
    expect(lines.filter((l) => /incoming request|request completed/.test(l))).toEqual([]);
  });
});
