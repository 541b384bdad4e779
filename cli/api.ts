import type { Command } from 'commander';
import { createApi } from '../api/app.ts';
import { signToken } from '../api/auth.ts';
import { loadConfig } from '../config/index.ts';
import { createKafka } from '../lib/clients.ts';
import { DATA_RECORDS_TOPIC, ProducerDataRecordsPublisher } from '../lib/data-records.ts';
import { UsageError } from '../lib/errors.ts';
import { createLogger, kafkaLogCreator } from '../lib/logger.ts';

// `regflow api`: the registration + admin HTTP API, with the campaign outbox relay publishing to
// data.records. `regflow token`: sign a token for local use (fan or admin).

export function registerApi(program: Command): void {
  program
    .command('api')
    .description(
      'run the registration + admin HTTP API (and the campaign outbox relay) until SIGTERM / SIGINT',
    )
    .option('--no-relay', 'do not publish the campaign outbox from this process')
    .action(async (opts: { relay: boolean }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel, { component: 'api' });
      const producer = opts.relay
        ? createKafka(config.kafka, { logCreator: kafkaLogCreator(logger) }).producer({
            idempotent: true,
            maxInFlightRequests: 1,
          })
        : undefined;
      await producer?.connect();
      const publisher = producer
        ? new ProducerDataRecordsPublisher(async (messages) => {
            await producer.send({ topic: DATA_RECORDS_TOPIC, messages, acks: -1 });
          })
        : undefined;
      const api = await createApi(config, {
        ...(publisher ? { publisher } : {}),
        logger,
      });
      const address = await api.app.listen({ host: config.api.host, port: config.api.port });
      logger.info({ address, openapi: `${address}/openapi.json` }, 'API listening');
      const stop = async () => {
        await api.close();
        await producer?.disconnect();
        process.exit(0);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });

  program
    .command('token')
    .description('print a signed HS256 token for local use (REGFLOW_JWT_SECRET)')
    .argument('<globalUserId>', 'the subject')
    .option('--admin', 'role admin')
    .option('--idv', 'identity verified (idv: true)')
    .option('--ttl <duration>', 'lifetime, e.g. 1h, 30m', '1h')
    .action(async (sub: string, opts: { admin?: boolean; idv?: boolean; ttl: string }) => {
      if (!/^\d+[smhd]$/.test(opts.ttl)) throw new UsageError('--ttl: expected a duration such as 30m or 1h');
      const config = loadConfig();
      const claims = { sub, ...(opts.admin ? { role: 'admin' } : {}), ...(opts.idv ? { idv: true } : {}) };
      console.log(await signToken(config.api.jwtSecret, claims, opts.ttl));
    });
}
