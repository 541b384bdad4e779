import type { Command } from 'commander';
import { createApi } from '../api/app.ts';
import { signToken } from '../api/auth.ts';
import { loadConfig } from '../config/index.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { DATA_RECORDS_TOPIC, ProducerDataRecordsPublisher } from '../lib/data-records.ts';
import { RetriableError, UsageError } from '../lib/errors.ts';
import { createLogger, kafkaLogCreator } from '../lib/logger.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';

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
      // Until data.records exists (the analytics topology creates it) the records wait in the
      // campaign outbox; asking for the topic list first keeps kafkajs from logging metadata errors.
      const admin = producer
        ? createKafka(config.kafka, { logCreator: kafkaLogCreator(logger) }).admin()
        : undefined;
      await admin?.connect();
      let topicReady = false;
      let registered: Promise<number> | undefined;
      const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
      const publisher = producer
        ? new ProducerDataRecordsPublisher(
            async (messages) => {
              if (!topicReady) topicReady = (await admin!.listTopics()).includes(DATA_RECORDS_TOPIC);
              if (!topicReady)
                throw new RetriableError(
                  `topic ${DATA_RECORDS_TOPIC} does not exist yet (regflow topics create); records wait in the campaign outbox`,
                );
              await producer.send({ topic: DATA_RECORDS_TOPIC, messages, acks: -1 });
            },
            async (envelope) => {
              // Registered once (the first record), then encoded with the cached schema id.
              if (!registered) registered = codec.register(DATA_RECORDS_TOPIC, loadSchema('data-record'));
              await registered;
              return codec.encode(DATA_RECORDS_TOPIC, envelope);
            },
          )
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
        await admin?.disconnect();
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
