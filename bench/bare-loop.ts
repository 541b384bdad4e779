import { Partitioners } from 'kafkajs';
import { loadConfig } from '../config/index.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';

// The benchmark's baseline: a bare kafkajs consume → decode → encode → produce loop, at least
// once (offsets committed after each produced batch), no transactions. Same work per record as
// the echo processor, minus the runtime.

const group = process.env.BENCH_GROUP!;
const input = process.env.BENCH_INPUT!;
const output = process.env.BENCH_OUTPUT!;
const config = loadConfig();
const kafka = createKafka(config.kafka, { clientId: `bench-bare-${group}`, logLevel: 1 });
const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
await codec.register(output, loadSchema('sample-event'));

const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
const consumer = kafka.consumer({ groupId: group, maxBytesPerPartition: 1_048_576, maxWaitTimeInMs: 250 });
await producer.connect();
await consumer.connect();
await consumer.subscribe({ topic: input, fromBeginning: true });
consumer.on(consumer.events.GROUP_JOIN, () => process.stdout.write('BENCH joined\n'));
await consumer.run({
  autoCommit: true,
  autoCommitThreshold: 1,
  eachBatchAutoResolve: false,
  partitionsConsumedConcurrently: 3,
  eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary }) => {
    const messages = [];
    for (const m of batch.messages) {
      const value = await codec.decode(m.value);
      messages.push({ key: m.key, value: await codec.encode(output, value) });
    }
    await producer.send({ topic: output, messages, acks: -1 });
    resolveOffset(batch.lastOffset());
    await commitOffsetsIfNecessary();
    await heartbeat();
  },
});
const stop = () =>
  void Promise.all([consumer.disconnect(), producer.disconnect()]).then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
